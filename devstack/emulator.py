"""The Razorpay emulator (`manage.py razorpay_emulator`) as a process, and its control calls."""

import subprocess
from pathlib import Path
from typing import Any

import httpx

from devstack.ports import free_port
from devstack.processes import PY, ROOT, stop
from devstack.waits import answers, wait_for


class Emulator:
    """One emulator process on a port of its own (kept across restarts), its output appended
    to log_path. `args` are the command's options (webhook URL, retry timings, workers)."""

    def __init__(self, env: dict[str, str], log_path: Path, *, port: int | None = None, args: list[str] = ()):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**env, "RAZORPAY_EMULATOR_ENABLED": "true"}
        self.log_path = log_path
        self.args = list(args)
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> "Emulator":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        cmd = [PY, "manage.py", "razorpay_emulator", "--port", str(self.port), *self.args]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        wait_for(
            lambda: answers(f"{self.url}/_emulator/health", timeout=1),
            timeout=timeout,
            interval=0.1,
            what=f"the emulator (see {self.log_path})",
            process=self.proc,
        )
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc, timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> "Emulator":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def pay_call(order_id: str, outcome: str = "success", **extra: Any) -> tuple[str, dict[str, Any]]:
    """The path and JSON body of what the Checkout modal does when the buyer pays (the
    emulator's scripted path): outcome success, failure or late (delay_seconds), capture=False..."""
    return f"/_emulator/orders/{order_id}/pay", {"outcome": outcome, **extra}


def pay(emulator_url: str, order_id: str, outcome: str = "success", **extra: Any) -> httpx.Response:
    """Pay an order on the emulator; its answer is what the modal hands to the page."""
    path, body = pay_call(order_id, outcome, **extra)
    return httpx.post(emulator_url + path, json=body, timeout=10)
