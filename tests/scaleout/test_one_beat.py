"""One beat, however many nodes start one: two real `celery beat` processes share RedBeat's lock
in Redis, so the periodic tasks are sent once; the waiting one takes over when the holder is
SIGKILLed. The control runs the same two beats on Celery's file scheduler: every task twice."""

import json
import signal
import time
from contextlib import ExitStack

import pytest
from django_redis import get_redis_connection

from devstack import stack
from devstack.processes import signal_tree
from tests.processes import product_env

HEARTBEAT = "apps.core.tasks.beat_heartbeat"
REDBEAT = "redbeat.RedBeatScheduler"  # as the scale-out topology sets it
WINDOW_S = 6


def sent(task: str) -> int:
    """Messages of `task` waiting in the broker (no worker runs here): the Redis transport's lists."""
    conn = get_redis_connection("default")
    count = 0
    for key in conn.scan_iter(match="*", _type="list"):
        for raw in conn.lrange(key, 0, -1):
            try:
                count += json.loads(raw)["headers"]["task"] == task
            except (ValueError, KeyError, TypeError):
                continue
    return count


def beats(running: ExitStack, tmp_path, count: int, **env: str) -> list:
    """`count` beats, each as on a node of its own (its own logs and schedule file)."""
    settings = product_env(
        **{
            "BEAT_HEARTBEAT_EVERY_SECONDS": "0.5",
            "CELERY_BEAT_SCHEDULER": REDBEAT,
            "CELERY_REDBEAT_LOCK_TIMEOUT": "3",
            "CELERY_BEAT_MAX_LOOP_INTERVAL": "1",
            **env,
        }
    )
    return [
        running.enter_context(stack.celery_beat(settings, tmp_path / f"node-{n}", loglevel="INFO"))
        for n in range(count)
    ]


def acquired(tmp_path, n: int) -> bool:
    return "beat: Acquired lock" in (tmp_path / f"node-{n}" / "beat.log").read_text()


def rate_over(window_s: float) -> float:
    before = sent(HEARTBEAT)
    time.sleep(window_s)
    return (sent(HEARTBEAT) - before) / window_s


def wait_until_sending(timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while sent(HEARTBEAT) == 0:
        assert time.monotonic() < deadline, "no beat ever sent its heartbeat"
        time.sleep(0.2)


@pytest.mark.django_db(transaction=True)
def test_two_beats_send_each_task_once_and_the_second_takes_over_when_the_first_dies(tmp_path):
    with ExitStack() as running:
        procs = beats(running, tmp_path, 2)
        wait_until_sending()
        rate = rate_over(WINDOW_S)
        print(f"two beats behind the lock: {rate:.2f} heartbeats/s (one beat: 2/s)")
        assert 1.4 <= rate <= 2.6  # one beat's worth, not two

        assert get_redis_connection("default").get("redbeat::lock") is not None  # held, in the cache's Redis
        holders = [n for n in range(2) if acquired(tmp_path, n)]
        assert len(holders) == 1  # the other waits at startup
        signal_tree(procs[holders[0]], signal.SIGKILL)  # the holder dies, as its node would
        time.sleep(5)  # its lock lapses (3 s); the other beat tries it every second
        assert acquired(tmp_path, 1 - holders[0])
        rate = rate_over(WINDOW_S)
        print(f"after one beat was killed: {rate:.2f} heartbeats/s")
        assert 1.4 <= rate <= 2.6


@pytest.mark.django_db(transaction=True)
def test_control_two_beats_without_the_lock_send_every_task_twice(tmp_path):
    with ExitStack() as running:
        beats(running, tmp_path, 2, CELERY_BEAT_SCHEDULER="celery.beat:PersistentScheduler")
        wait_until_sending()
        time.sleep(1)  # both running
        rate = rate_over(WINDOW_S)
        print(f"two beats without the lock: {rate:.2f} heartbeats/s")
        assert rate >= 3.4  # the harness sees the double sending
