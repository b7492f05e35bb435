"""Serve the emulator with gunicorn's threaded worker, started from Python (no gunicorn CLI, no argv)."""

from typing import Any

from gunicorn.app.base import BaseApplication

from booking_site.logs import GunicornLogger

from .app import EmulatorApp
from .background import BackgroundWorkers
from .config import EmulatorConfig
from .services import Emulator


class EmulatorServer(BaseApplication):
    """One gunicorn master; each worker process serves the app and runs its own delivery threads.

    Workers share all state through Redis (queues are claimed atomically), so more than one is safe.
    """

    def __init__(self, config: EmulatorConfig, *, host: str, port: int, workers: int, threads: int) -> None:
        self.emulator_config = config
        self.options: dict[str, Any] = {
            "bind": f"{host}:{port}",
            "workers": workers,
            "worker_class": "gthread",
            "threads": threads,
            "keepalive": 5,
            "timeout": 60,
            "graceful_timeout": 3,
            "backlog": 2048,
            "accesslog": None,
            "loglevel": "warning",
            "logger_class": GunicornLogger,  # the project's one log format (UTC), like every process
            "proc_name": "razorpay-emulator",
        }
        super().__init__()

    def load_config(self) -> None:
        for name, value in self.options.items():
            self.cfg.set(name, value)

    def load(self) -> EmulatorApp:
        """Runs in each worker after the fork: Redis connections and threads must not cross a fork."""
        emulator = Emulator(self.emulator_config)
        BackgroundWorkers(emulator, delivery_threads=self.emulator_config.delivery_threads).start()
        return EmulatorApp(emulator)
