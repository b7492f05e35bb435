"""Threads inside the emulator process that deliver webhooks and complete late payments.

Both queues live in Redis, so whatever was due when the process stopped is picked up when it starts again.
"""

import logging
import threading
from collections.abc import Callable

import redis

from .services import Emulator

log = logging.getLogger("razorpay_emulator.background")

IDLE_WAIT = 0.05


class BackgroundWorkers:
    def __init__(self, emulator: Emulator, *, delivery_threads: int) -> None:
        self.emulator = emulator
        self.delivery_threads = delivery_threads
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        for n in range(self.delivery_threads):
            self._spawn(f"rzpemu-deliver-{n}", self._deliver_forever)
        self._spawn("rzpemu-late", self._complete_late_forever)

    def stop(self, timeout: float = 2.0) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout)

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def _deliver_forever(self) -> None:
        while not self.stopping.is_set():
            try:
                if not self.emulator.webhooks.deliver_next():
                    self.stopping.wait(IDLE_WAIT)
            except redis.RedisError:
                log.exception("Redis unavailable; webhook delivery pauses")
                self.stopping.wait(1.0)
            except Exception:
                log.exception("webhook delivery failed unexpectedly")
                self.stopping.wait(IDLE_WAIT)

    def _complete_late_forever(self) -> None:
        store = self.emulator.store
        while not self.stopping.is_set():
            try:
                payment_id = store.claim_due("late", lease=30)
                if payment_id is None:
                    self.stopping.wait(IDLE_WAIT * 2)
                    continue
                self.emulator.complete_late_payment(payment_id)
                store.r.zrem(store.key("late"), payment_id)
            except redis.RedisError:
                log.exception("Redis unavailable; late payments pause")
                self.stopping.wait(1.0)
            except Exception:
                log.exception("completing a late payment failed unexpectedly")
                self.stopping.wait(IDLE_WAIT)
