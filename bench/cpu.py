"""CPU time by kind of process (psutil), so a phase reports where each request's cost goes: its
rate is bounded by the sum, on a machine whose cores the server and the load generator share.

Counts the processes alive at both readings: gunicorn's workers, nginx's, PostgreSQL's backends and
Redis persist through a phase (pooled connections); a process that starts or ends inside a phase is
not counted.
"""

import os

import psutil

KINDS = {
    "gunicorn": "gunicorn",
    "nginx": "nginx",
    "postgres": "postgres",
    "redis-server": "redis",
    "pgbouncer": "pgbouncer",
}


def _kind(process: psutil.Process) -> str | None:
    name = process.info["name"] or ""
    for prefix, kind in KINDS.items():
        if name.startswith(prefix):
            return kind
    cmdline = process.info["cmdline"] or []
    if any("gunicorn" in part for part in cmdline[:3]):
        return "gunicorn"
    return None


def reading() -> dict[int, tuple[str, float]]:
    """Each counted process's kind and CPU seconds (user + system); this process is "client"."""
    seen, me = {}, os.getpid()
    for process in psutil.process_iter(["name", "cmdline", "cpu_times"]):
        kind = "client" if process.pid == me else _kind(process)
        times = process.info["cpu_times"]
        if kind and times is not None:
            seen[process.pid] = (kind, times.user + times.system)
    return seen


def per_request_ms(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]], requests: int
) -> dict[str, float]:
    """Milliseconds of CPU per request by kind between two readings, and their total."""
    spent: dict[str, float] = {}
    for pid, (kind, seconds) in after.items():
        if pid in before:
            spent[kind] = spent.get(kind, 0.0) + seconds - before[pid][1]
    result = {kind: round(seconds * 1000 / max(requests, 1), 3) for kind, seconds in sorted(spent.items())}
    result["total"] = round(sum(result.values()), 3)
    return result
