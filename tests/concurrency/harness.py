"""Run a function in many real threads at once, each with its own database connection."""

import threading
from collections.abc import Callable

from django.db import connection


def race(worker: Callable[[int], object], count: int, timeout: float = 60) -> list[object]:
    """Start `count` threads that all call worker(i) the moment they are all ready.

    Returns each worker's return value, or the exception it raised."""
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=timeout)
            results[i] = worker(i)
        except Exception as error:  # noqa: BLE001 - the caller inspects what happened
            results[i] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
        assert not thread.is_alive(), "a racing thread hung"
    return results
