"""Waiting for something to become true: a process to answer, a row to appear."""

import subprocess
import time
from collections.abc import Callable
from typing import Any

import httpx


class NotReady(AssertionError):
    """What was waited for did not happen in time (an AssertionError: a test fails, not errors)."""


def wait_for(
    predicate: Callable[[], Any],
    *,
    timeout: float = 30,
    interval: float = 0.2,
    what: str = "condition",
    process: subprocess.Popen | None = None,
) -> Any:
    """Call predicate until it returns something truthy, and return that; give up after timeout,
    or at once if `process` (the one expected to make it true) has exited."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if process is not None and process.poll() is not None:
            raise NotReady(f"{what}: the process exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise NotReady(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def answers(url: str, *, timeout: float = 2) -> bool:
    """Whether url answers 200 now."""
    try:
        return httpx.get(url, timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def wait_http(url: str, *, timeout: float = 40, process: subprocess.Popen | None = None) -> None:
    """Wait until url answers 200."""
    wait_for(lambda: answers(url), timeout=timeout, interval=0.2, what=url, process=process)
