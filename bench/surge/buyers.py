"""One buyer of the drop: an independent browser (its own cookies) playing the real HTTP flow."""

import argparse
import asyncio
import json
import random
import re
import time
from dataclasses import dataclass, field
from http.cookies import SimpleCookie

from bench import seatmap
from bench.common import HTTP_ERRORS, Http, Reply, Stats, cookie_header
from devstack.emulator import pay_call

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
CHECKOUT_REFRESH = re.compile(r'<meta http-equiv="refresh" content="(\d+)">')
CHECKOUT_OPTIONS = re.compile(r'<script id="checkout-options" type="application/json">(.*?)</script>', re.S)
ARRIVAL_STEPS = ("event page", "queue status")


@dataclass
class Buyer:
    index: int
    cookies: dict[str, str] = field(default_factory=dict)
    ticket: int | None = None  # the arrival number the waiting room gave (its join order)
    admitted_at: float | None = None  # server's admission time (ms)
    outcome: str = "pending"
    intent: str | None = None
    first_at: float | None = None  # its first request (s since the opening)
    place_at: float | None = None  # when it first knew its place in line (or was let in)
    requests: int = 0
    requests_to_place: int | None = None  # requests it took from the first one to a known place

    def header(self) -> dict[str, str]:
        return cookie_header(self.cookies)

    def absorb(self, response: Reply) -> None:
        for raw in response.headers.getall("Set-Cookie", []):
            jar = SimpleCookie()
            jar.load(raw)
            for name, morsel in jar.items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value


@dataclass
class Run:
    base: str
    emulator: str
    slug: str
    args: argparse.Namespace
    steps: dict[str, Stats] = field(default_factory=dict)
    timeline: list[tuple[float, float, int]] = field(default_factory=list)  # (t, latency, status)
    started: float = field(default_factory=time.perf_counter)
    sold_out_at: float | None = None
    errors: dict[str, int] = field(default_factory=dict)
    inside_5xx: int = 0
    timeouts: int = 0
    timeouts_inside: int = 0  # of buyers already admitted: the target is zero
    arrival_timeouts: int = 0  # on the arrival path (event page, status polls), every buyer
    arrival_5xx: int = 0
    holds_ok: list[tuple[float, float]] = field(default_factory=list)  # (began, latency) of successful holds
    emulator_http: Http | None = None  # this load-generator process's pool to the emulator

    def stats(self, step: str) -> Stats:
        return self.steps.setdefault(step, Stats(step))

    async def call(self, http: Http, buyer: Buyer, step: str, method: str, url: str, **kwargs) -> Reply:
        headers = {**buyer.header(), **kwargs.pop("headers", {})}
        began = time.perf_counter()
        buyer.requests += 1
        if buyer.first_at is None:
            buyer.first_at = began - self.started
        arrival = step in ARRIVAL_STEPS
        try:
            response = await http.request(method, url, headers=headers, **kwargs)
        except TimeoutError:
            self.arrival_timeouts += arrival
            self.timeouts += 1
            if buyer.admitted_at is not None:
                self.timeouts_inside += 1
            self.errors["timeout"] = self.errors.get("timeout", 0) + 1
            raise
        except HTTP_ERRORS as error:
            kind = type(error).__name__
            self.errors[kind] = self.errors.get(kind, 0) + 1
            raise
        latency = time.perf_counter() - began
        self.stats(step).record(latency, response.status_code)
        self.timeline.append((began - self.started, latency, response.status_code))
        buyer.absorb(response)
        if step == "hold" and response.status_code in (200, 201):
            self.holds_ok.append((began - self.started, latency))
        if response.status_code >= 500:
            self.arrival_5xx += arrival
            self.errors[f"{step} {response.status_code}"] = self.errors.get(f"{step} {response.status_code}", 0) + 1
            if buyer.admitted_at is not None or response.status_code != 503:
                self.inside_5xx += 1
        return response


async def wait_in_line(run: Run, http: Http, buyer: Buyer) -> bool:
    """Poll the waiting room as the page's script does (the event page and the waiting page
    both run it), until admitted (True) or the line ends (False). The first answer is the join."""
    while True:
        try:
            response = await run.call(
                http, buyer, "queue status", "GET", f"/queue/{run.slug}/status", headers={"Accept": "application/json"}
            )
        except HTTP_ERRORS:
            await asyncio.sleep(5 * random.uniform(0.75, 1.25))  # the page's script tries again
            continue
        if response.status_code in (429, 503):
            retry = float(response.headers.get("Retry-After", "1"))
            await asyncio.sleep(retry * random.uniform(0.75, 1.25))  # as the page does: with jitter
            continue
        if response.status_code != 200:
            await asyncio.sleep(1)
            continue
        status = response.json()
        if buyer.place_at is None:
            buyer.place_at = time.perf_counter() - run.started
            buyer.requests_to_place = buyer.requests
        if buyer.ticket is None and isinstance(status.get("arrival"), int):
            buyer.ticket = status["arrival"]
        if status.get("state") in ("admitted", "open"):
            buyer.admitted_at = status.get("admitted_at") or time.time() * 1000
            return True
        if status.get("state") in ("sold_out", "closed"):
            buyer.outcome = status["state"]
            return False
        if time.perf_counter() - run.started > run.args.drop_seconds:
            buyer.outcome = "still in line at the end"  # the run is bounded; the line is not
            return False
        await asyncio.sleep(status.get("poll_after_ms", 1000) / 1000)  # as the page does


async def seat_page(run: Run, http: Http, buyer: Buyer) -> Reply | None:
    """The seat map, going through the waiting room whenever the gate sends the buyer there."""
    for _ in range(50):
        response = await run.call(http, buyer, "seat page", "GET", f"/events/{run.slug}/seats/")
        if response.status_code == 200:
            return response
        if response.status_code in (302, 303) and "/queue/" in response.headers.get("location", ""):
            if not await wait_in_line(run, http, buyer):
                return None
            continue
        if response.status_code in (429, 503):
            await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
            continue
        return None
    return None


async def free_seats(run: Run, http: Http, buyer: Buyer) -> list[str] | None:
    """What the shell's script loads after the page: the layout (immutable, from the front's
    cache) and the availability document; None when the gate no longer lets the buyer in."""
    layout = await run.call(http, buyer, "seat layout", "GET", seatmap.layout_path(run.slug))
    available = await run.call(http, buyer, "seat availability", "GET", seatmap.availability_path(run.slug))
    if layout.status_code != 200 or available.status_code != 200:
        return None
    return seatmap.free_labels(layout.json(), available.json())


def choose(rng: random.Random, free: list[str], popular: bool) -> list[str]:
    count = min(len(free), rng.choice([1, 1, 2, 2, 2, 3, 4]))
    if popular:
        return sorted(free[: max(count, 8)][:count]) if len(free) >= count else free
    return rng.sample(free, count)


async def one_buyer(run: Run, http: Http, index: int) -> Buyer:
    rng = random.Random(index * 7919 + run.args.seed)
    buyer = Buyer(index)
    args = run.args
    try:
        # The arrival: the event page (the lobby), whose script's first status call is the join.
        # A person whose page did not load (counted) reloads it a few seconds later.
        for attempt in range(5):
            try:
                page = await run.call(http, buyer, "event page", "GET", f"/events/{run.slug}/")
            except HTTP_ERRORS:
                if attempt == 4:
                    raise
                await asyncio.sleep(5 * random.uniform(0.75, 1.25))
                continue
            if page.status_code == 200:
                break
            await asyncio.sleep(float(page.headers.get("Retry-After", "5")) * random.uniform(0.75, 1.25))
        if not await wait_in_line(run, http, buyer):
            return buyer
        held = None
        for _attempt in range(3):  # some retry after a conflict
            page = await seat_page(run, http, buyer)
            if page is None:
                buyer.outcome = buyer.outcome if buyer.outcome != "pending" else "no seat page"
                return buyer
            free = await free_seats(run, http, buyer)
            if free is None:
                buyer.outcome = "no seat map"
                return buyer
            if not free:
                buyer.outcome = "sold out"
                return buyer
            seats = choose(rng, free, rng.random() < args.popular_share)
            response = await run.call(
                http,
                buyer,
                "hold",
                "POST",
                f"/events/{run.slug}/hold/",
                data={
                    "seat": seats,
                    "name": f"Buyer {index}",
                    "email": f"buyer{index}@surge.test",
                    "phone": "+919800000000",
                },
                # As seatmap.js does: the token from the CSRF cookie (the availability set it), in the header.
                headers={
                    "Accept": "application/json",
                    "Referer": run.base + "/",
                    "X-CSRFToken": buyer.cookies.get("csrftoken", ""),
                },
            )
            if response.status_code in (200, 201):
                held = response.json()
                break
            if response.status_code == 429:
                await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
            elif response.status_code != 409:
                buyer.outcome = f"hold {response.status_code}"
                return buyer
        if held is None:
            buyer.outcome = "lost every seat"
            return buyer
        buyer.intent = held["intent"]
        checkout = await run.call(http, buyer, "checkout page", "GET", held["checkout_url"])
        # Razorpay slow, paused (circuit open) or down: the page answers 503 and refreshes itself
        # (its meta refresh, the gateway's retry-after) while the hold lasts; the buyer waits with it.
        for _ in range(20):
            if checkout.status_code != 503:
                break
            refresh = CHECKOUT_REFRESH.search(checkout.text)
            await asyncio.sleep(float(refresh.group(1)) if refresh else 3.0)
            checkout = await run.call(http, buyer, "checkout page", "GET", held["checkout_url"])
        found = CHECKOUT_OPTIONS.search(checkout.text)
        if checkout.status_code != 200 or not found:
            buyer.outcome = f"checkout {checkout.status_code}"
            return buyer
        order_id = json.loads(found.group(1))["order_id"]
        token = CSRF.search(checkout.text).group(1)
        form_headers = {"X-CSRFToken": token, "Accept": "application/json", "Referer": run.base + "/"}
        roll = rng.random()
        if roll < args.abandon_share:
            if rng.random() < 0.5:  # half press "release", half just walk away
                await run.call(
                    http, buyer, "release", "POST", f"/checkout/{buyer.intent}/release/", headers=form_headers
                )
            buyer.outcome = "abandoned"
            return buyer
        await run.call(http, buyer, "pay start", "POST", f"/checkout/{buyer.intent}/pay/start/", headers=form_headers)
        roll -= args.abandon_share
        if roll < args.fail_share:
            await emulator_pay(run, order_id, "failure")
            if rng.random() < 0.5:
                await run.call(
                    http, buyer, "release", "POST", f"/checkout/{buyer.intent}/release/", headers=form_headers
                )
            buyer.outcome = "payment failed"
            return buyer
        roll -= args.fail_share
        if roll < args.late_share:
            await emulator_pay(run, order_id, "late", delay_seconds=args.late_delay)
            buyer.outcome = "paid late"
            return buyer
        answer = await emulator_pay(run, order_id, "success")
        verify = await run.call(
            http, buyer, "verify", "POST", f"/checkout/{buyer.intent}/pay/verify/", data=answer, headers=form_headers
        )
        result = verify.json() if verify.status_code == 200 else {}
        if result.get("status") == "confirmed":
            await run.call(http, buyer, "ticket page", "GET", result["redirect"])
            buyer.outcome = "confirmed"
            if run.sold_out_at is None and not free[len(seats) :]:
                run.sold_out_at = time.perf_counter() - run.started
        else:
            buyer.outcome = f"verify {result.get('status', verify.status_code)}"
    except HTTP_ERRORS:
        buyer.outcome = "http error"
    return buyer


async def emulator_pay(run: Run, order_id: str, outcome: str, **extra) -> dict:
    """What the Checkout modal does when the buyer pays (the emulator's scripted path)."""
    path, body = pay_call(order_id, outcome, **extra)
    try:
        response = await run.emulator_http.post(path, json_body=body)
    except HTTP_ERRORS as error:
        kind = f"emulator {type(error).__name__}"
        run.errors[kind] = run.errors.get(kind, 0) + 1
        raise
    return response.json()
