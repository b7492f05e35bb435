"""A private redis-server for a stack that restarts its Redis (bench.surge --fault redis-restart):
the machine's shared server on 6379 is used by everything else and is never restarted."""

import signal
import subprocess
from pathlib import Path

import redis

from devstack.ports import free_port
from devstack.waits import wait_for

REDIS_SERVER = "redis-server"


class RedisServer:
    """redis-server on a free loopback port, its data in `data_dir`, configured as production is
    (docs/waiting-room.md, "Redis persistence"): append-only file fsynced every second, no
    eviction. So a crash loses at most about a second of writes, and a restart reloads the rest."""

    def __init__(self, data_dir: Path, *, port: int | None = None):
        self.port = port or free_port()
        self.data_dir = data_dir
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        return [
            REDIS_SERVER,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--maxmemory-policy", "noeviction",
            "--daemonize", "no",
            "--logfile", str(self.data_dir / "redis.log"),
        ]  # fmt: skip

    def start(self, timeout: float = 30) -> "RedisServer":
        """Start it and wait until it has loaded its data and answers PING."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        client = redis.Redis.from_url(self.url, socket_timeout=1, socket_connect_timeout=1)

        def ready() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:  # refused, or LOADING the append-only file
                return False

        wait_for(ready, timeout=timeout, interval=0.1, what=f"redis-server on {self.port}", process=self.proc)
        client.close()
        return self

    def answers(self) -> bool:
        try:
            return bool(self.client(timeout=1).ping())
        except redis.RedisError:
            return False

    def client(self, timeout: float = 2) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=timeout, socket_connect_timeout=timeout)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def crash(self) -> int:
        """SIGKILL: no shutdown save, the append-only file as last fsynced. Returns the pid."""
        pid = self.proc.pid
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        return pid

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def __enter__(self) -> "RedisServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
