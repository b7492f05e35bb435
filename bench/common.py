"""Shared by the benchmarks: drive HTTP load, report figures. The stack they measure is started
by devstack (the production way, as the tests start it).

Benchmarks talk to the product over HTTP only; `manage.py` is used solely to set up test data
and to audit afterwards (like an operator would), outside the measured part.
"""

import asyncio
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any

import aiohttp
import uvloop

from bench import cpu


@dataclass
class Stats:
    name: str
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    elapsed: float = 0.0
    cpu_ms: dict[str, float] = field(default_factory=dict)  # CPU per request by kind of process (bench/cpu.py)

    def record(self, seconds: float, status: int) -> None:
        self.latencies.append(seconds)
        self.statuses[status] = self.statuses.get(status, 0) + 1

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.count / self.elapsed if self.elapsed else 0.0

    def pct(self, p: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] * 1000

    @classmethod
    def together(cls, name: str, parts: "list[Stats]") -> "Stats":
        """Several measurements of one thing as one: the rate is all requests over all the time, so a
        machine whose speed drifts during a run is measured at both ends of it."""
        joined = cls(name, elapsed=sum(p.elapsed for p in parts))
        for part in parts:
            joined.latencies += part.latencies
            for table, into in ((part.statuses, joined.statuses), (part.errors, joined.errors)):
                for key, count in table.items():
                    into[key] = into.get(key, 0) + count
        kinds = {kind for part in parts for kind in part.cpu_ms}
        joined.cpu_ms = {kind: sum(p.cpu_ms.get(kind, 0.0) * p.count for p in parts) / joined.count for kind in kinds}
        return joined

    def line(self, baseline: "Stats | None" = None) -> str:
        ratio = f"  {self.rate / baseline.rate:6.1%} of trivial" if baseline and baseline.rate else ""
        codes = " ".join(f"{k}:{v}" for k, v in sorted(self.statuses.items()))
        errs = (" errors " + " ".join(f"{k}:{v}" for k, v in self.errors.items())) if self.errors else ""
        return (
            f"{self.name:<34} {self.rate:8.1f} req/s  p50 {self.pct(50):7.2f} ms  p99 {self.pct(99):7.2f} ms"
            f"{ratio}  [{codes}]{errs}"
        )

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "count": self.count,
            "rate": round(self.rate, 2),
            "p50_ms": round(self.pct(50), 3),
            "p95_ms": round(self.pct(95), 3),
            "p99_ms": round(self.pct(99), 3),
            "statuses": self.statuses,
            "errors": self.errors,
            "cpu_ms_per_request": self.cpu_ms,
        }

    def cpu_line(self) -> str:
        """Where a request's CPU went, in ms: the phase's rate is bounded by the total over the cores."""
        parts = " ".join(f"{kind} {ms:.2f}" for kind, ms in self.cpu_ms.items() if kind != "total")
        return f"{'':<34} cpu ms/request: {parts}  = {self.cpu_ms.get('total', 0):.2f}"


HTTP_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError)


def cookie_header(jar: dict[str, str]) -> dict[str, str]:
    """The Cookie header a browser with this jar sends (none for an empty jar)."""
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())} if jar else {}


@dataclass
class Reply:
    """What a load-generator request returns: status, headers and body, read in full."""

    status_code: int
    headers: Any  # multidict: .get(name), .getall(name, [])
    text: str

    def json(self) -> Any:
        return json.loads(self.text)

    @property
    def cookies(self) -> dict[str, str]:
        jar: dict[str, str] = {}
        for raw in self.headers.getall("Set-Cookie", []):
            parsed = SimpleCookie()
            parsed.load(raw)
            jar.update({name: morsel.value for name, morsel in parsed.items()})
        return jar


class Http:
    """The load generator's HTTP client: aiohttp (its C parser keeps one client process from
    being the bottleneck on a 2-core machine), one connection pool, no cookie jar: every
    simulated browser sends its own cookies."""

    def __init__(self, base_url: str, *, connections: int = 64, timeout: float = 30, source: str | None = None):
        self.base_url = base_url.rstrip("/")
        self.connections = connections
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.source = source  # a loopback address of its own: the front sees a different client
        self.session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> "Http":
        connector = aiohttp.TCPConnector(
            limit=self.connections,
            limit_per_host=self.connections,
            local_addr=(self.source, 0) if self.source else None,
        )
        self.session = aiohttp.ClientSession(
            connector=connector, timeout=self.timeout, cookie_jar=aiohttp.DummyCookieJar()
        )
        return self

    async def __aexit__(self, *exc) -> None:
        await self.session.close()

    async def request(self, method: str, path: str, *, headers=None, data=None, json_body=None) -> Reply:
        if isinstance(data, dict):  # repeated fields (several `seat`) as a list of pairs
            data = [(k, item) for k, v in data.items() for item in (v if isinstance(v, list) else [v])]
        url = path if path.startswith("http") else self.base_url + path
        async with self.session.request(
            method, url, headers=headers, data=data, json=json_body, allow_redirects=False
        ) as response:
            return Reply(response.status, response.headers, await response.text())

    async def get(self, path: str, **kwargs) -> Reply:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs) -> Reply:
        return await self.request("POST", path, **kwargs)


async def drive(name: str, requests: int, concurrency: int, make_request) -> Stats:
    """Run `requests` calls of `make_request(i)` (an awaitable returning a Reply) with `concurrency` in flight."""
    stats = Stats(name)
    counter = iter(range(requests))

    async def worker():
        for i in counter:
            started = time.perf_counter()
            try:
                response = await make_request(i)
            except HTTP_ERRORS as error:
                kind = type(error).__name__
                stats.errors[kind] = stats.errors.get(kind, 0) + 1
                continue
            stats.record(time.perf_counter() - started, response.status_code)

    cpu_before = cpu.reading()
    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    stats.elapsed = time.perf_counter() - began
    stats.cpu_ms = cpu.per_request_ms(cpu_before, cpu.reading(), stats.count)
    return stats


def run_load(coroutine):
    """Run a load generator's coroutine on uvloop (libuv's event loop): it spends far less CPU per
    request than asyncio's own, and on a 2-core machine every cycle the client spends is taken
    from the server it measures."""
    return asyncio.run(coroutine, loop_factory=uvloop.new_event_loop)


def source_address(n: int) -> str:
    """The n-th of many loopback addresses (127.0.0.0/8): load runs spread their simulated
    people over them, so every per-address limit of the front and the line stays on."""
    return f"127.{10 + n // 62_500 % 200}.{n // 250 % 250}.{1 + n % 250}"


class Crowd:
    """Many people, each group behind its own source address (a household, a phone): one
    connection pool per address, opened when first used."""

    def __init__(self, base_url: str, *, per_address: int, connections: int | None = None, timeout: float = 30):
        # Each person has a browser of their own: a few connections each, never waiting on a neighbour's.
        self.base_url, self.per_address, self.timeout = base_url, per_address, timeout
        self.connections = connections or 2 * per_address
        self.clients: dict[str, Http] = {}

    async def http(self, person: int) -> Http:
        address = source_address(person // self.per_address)
        if address not in self.clients:
            client = Http(self.base_url, connections=self.connections, timeout=self.timeout, source=address)
            self.clients[address] = await client.__aenter__()
        return self.clients[address]

    async def close(self) -> None:
        for client in self.clients.values():
            await client.__aexit__(None, None, None)


def client(base_url: str, **kwargs) -> Http:
    return Http(base_url, connections=kwargs.pop("max_connections", 64), timeout=kwargs.pop("timeout", 30))


async def trivial_baseline(base_url: str, requests: int, concurrency: int) -> Stats:
    async with client(base_url) as http:
        await drive("warm-up", min(200, requests), concurrency, lambda i: http.get("/healthz"))
        return await drive("trivial view /healthz", requests, concurrency, lambda i: http.get("/healthz"))


def describe_machine() -> str:
    return f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}"


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0
