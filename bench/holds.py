"""Holds through the front (nginx, two lanes), beside the trivial view measured in the same run.

    python -m bench.holds --start                 # 3 runs of 1,000 buyers; figures in bench-holds.json
    python -m bench.holds --start --runs 1 --buyers 300 --no-browser

Each run, through nginx, with the lobby and booking lanes given the same processes and threads
(the trivial view /healthz is served by the lobby, the rest by the booking lane):
  trivial view   GET /healthz, before the phases and after them (the ratios' baseline is both)
  hold           each buyer holds one distinct seat (its seat map read first, not timed)
  whole buyer    the seat map as seatmap.js reads it (shell, layout, availability), then the hold
  hot seat       every buyer tries the same seat: one 201, the rest 409 conflicts
  stadium hold   holds of distinct seats on a 50,000-seat event (the rate must not depend on size)
  seat-map poll  buyers who have opened the hold phase's seat map read its availability again, as
                 seatmap.js polls: the gate and one cached Redis document, no database. No target:
                 it is the floor, the cheapest request the booking lane serves, which no hold (the
                 gate, a statement, CSRF, a form) can undercut
Once, in Debian's Chromium on a phone (390x844, CPU slowed 4x, empty cache): the stadium's first
view, its bytes on the wire and the milliseconds until seatmap.js drew it (the median of three).
Each buyer comes from a loopback address of its own, so every per-address cap stays on.
"""

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import seatmap
from bench.common import Crowd, Stats, cookie_header, describe_machine, drive, run_load, trivial_baseline
from devstack.env import bench_env
from devstack.processes import ensure_database, manage
from devstack.stack import front

STADIUM = {"rows": 1000, "seats_per_row": 50, "sections": 10}  # 50,000 seats
PHONE = {"width": 390, "height": 844}
TARGETS = {"hold": 0.4, "whole_buyer": 0.15, "hot_seat": 0.5}  # of the trivial view (issue 10)


def seat_label(i: int, per_row: int = 50) -> str:
    """The i-th seat of a grid `per_row` wide, labelled as generate_seat_grid does (A-1 … Z-50, AA-1 …)."""
    row, number = divmod(i, per_row)
    label = ""
    row += 1
    while row:
        row, rem = divmod(row - 1, 26)
        label = chr(65 + rem) + label
    return f"{label}-{number + 1}"


def hold_request(http, base: str, slug: str, i: int, seat: str, cookies: dict[str, str]):
    """The hold as seatmap.js sends it: JSON wanted, the CSRF token from its cookie in the header."""
    return http.post(
        f"/events/{slug}/hold/",
        data={"seat": seat, "name": f"Bench {i}", "email": f"bench{i}@surge.test", "phone": "+919800000000"},
        headers={
            "Accept": "application/json",
            **cookie_header(cookies),
            "X-CSRFToken": cookies["csrftoken"],
            "Referer": base + "/",
        },
    )


async def after_seat_map(base: str, slug: str, name: str, buyers: int, concurrency: int, first_person: int, request):
    """`buyers` timed calls of `request(http, i, jar)`, the i-th buyer's; each buyer first reads the
    seat map (its cookies, `jar`), untimed, as a browser would."""
    crowd = Crowd(base, per_address=1, connections=2)
    jars: dict[int, dict[str, str]] = {}
    try:

        async def open_page(i):
            jars[i], availability = await seatmap.open_seat_map(await crowd.http(first_person + i), slug)
            return availability

        await drive(f"{name}: seat map (setup)", buyers, concurrency, open_page)

        async def timed(i):
            return await request(await crowd.http(first_person + i), i, jars[i])

        return await drive(name, buyers, concurrency, timed)
    finally:
        await crowd.close()


async def holds(base: str, slug: str, name: str, buyers: int, concurrency: int, seat_for, first_person: int) -> Stats:
    """`buyers` holds, the i-th of seat `seat_for(i)`."""

    def hold(http, i: int, jar: dict[str, str]):
        return hold_request(http, base, slug, first_person + i, seat_for(i), jar)

    return await after_seat_map(base, slug, name, buyers, concurrency, first_person, hold)


async def seat_map_polls(base: str, slug: str, buyers: int, concurrency: int, first_person: int) -> Stats:
    """The availability read again by buyers who have read it once (their cookies sent, no ETag):
    what seatmap.js's poll costs when the map has changed."""

    def poll(http, i: int, jar: dict[str, str]):
        return http.get(seatmap.availability_path(slug), headers=cookie_header(jar))

    return await after_seat_map(
        base, slug, "seat-map poll (gate + cached document)", buyers, concurrency, first_person, poll
    )


async def whole_buyers(base: str, slug: str, buyers: int, concurrency: int, first_person: int) -> Stats:
    """Seat map (shell, layout, availability) and hold, timed together, distinct buyers on distinct seats."""
    crowd = Crowd(base, per_address=1, connections=2)
    try:

        async def whole_buyer(i):
            http = await crowd.http(first_person + i)
            jar, _ = await seatmap.open_seat_map(http, slug)
            return await hold_request(http, base, slug, first_person + i, seat_label(i), jar)

        return await drive("whole buyer (seat map + hold)", buyers, concurrency, whole_buyer)
    finally:
        await crowd.close()


async def one_run(
    base: str, run: int, slugs: dict[str, str], buyers: int, concurrency: int, between_phases: Callable[[], None]
) -> dict:
    people = 100_000 * (run + 1)  # fresh addresses and emails for every phase of every run
    trivial_before = await trivial_baseline(base, buyers, concurrency)
    between_phases()
    hold = await holds(base, slugs["holds"], "hold, distinct seats", buyers, concurrency, seat_label, people)
    between_phases()
    whole = await whole_buyers(base, slugs["whole"], buyers, concurrency, people + 20_000)
    between_phases()
    hot = await holds(
        base, slugs["hot"], "hold, one hot seat (409s)", buyers, concurrency, lambda i: "A-1", people + 40_000
    )
    between_phases()
    offset = run * buyers  # each run holds its own rows of the stadium
    stadium = await holds(
        base,
        slugs["stadium"],
        "hold, 50,000-seat event",
        buyers,
        concurrency,
        lambda i: seat_label(offset + i),
        people + 60_000,
    )
    between_phases()
    poll = await seat_map_polls(base, slugs["holds"], buyers, concurrency, people + 80_000)
    trivial_after = await trivial_baseline(base, buyers, concurrency)
    # Before and after the phases: this machine's speed drifts within minutes.
    baseline = Stats.together("trivial view /healthz, before and after", [trivial_before, trivial_after])
    print(f"\nrun {run + 1}: {describe_machine()}; {buyers} buyers, {concurrency} in flight, through nginx")
    phases = {
        "trivial": baseline,
        "hold": hold,
        "whole_buyer": whole,
        "hot_seat": hot,
        "stadium_hold": stadium,
        "seat_map_poll": poll,
    }
    for stats in phases.values():
        print(stats.line(baseline))
        print(stats.cpu_line())
    return {
        **{name: stats.as_dict() for name, stats in phases.items()},
        "ratios": {name: round(stats.rate / baseline.rate, 4) for name, stats in phases.items() if name != "trivial"},
    }


def analyze_holds(env: dict[str, str]) -> None:
    """ANALYZE of the holds' tables, untimed, before each phase. In production beat does this
    (services.refresh_hold_statistics, once a table has doubled) and autovacuum too; the bench runs
    no Celery, and this machine's PostgreSQL runs with autovacuum off (its CI configuration).
    Without it the hold's generic plans, made from the statistics of near-empty tables, go on
    reading every earlier hold: on a new bench database, 1.5, 3.6 and 8.1 ms of PostgreSQL CPU a
    hold over three runs."""
    manage("dbshell", "--", "-c", "ANALYZE booking_bookingintent, booking_intentseat", env=env)


def first_view_in_chromium(url: str, tries: int = 3) -> dict:
    """The stadium's seat page opened by new buyers on a phone: bytes on the wire of everything the
    page loads until seatmap.js marks the map drawn (`data-ready`), and that mark's milliseconds."""
    from playwright.sync_api import sync_playwright

    views = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            for _ in range(tries + 1):  # the first view after a change builds the documents: not counted
                context = browser.new_context(viewport=PHONE)
                page = context.new_page()
                context.new_cdp_session(page).send("Emulation.setCPUThrottlingRate", {"rate": 4})
                responses = []
                page.on("requestfinished", lambda request, seen=responses: seen.append(request))
                page.goto(url)
                page.wait_for_selector("#seatmap[data-ready]", state="attached", timeout=20_000)
                drawn_ms = int(page.get_attribute("#seatmap", "data-ready"))
                page.wait_for_load_state("networkidle")
                sizes = [request.sizes() for request in responses]
                wire = sum(s["responseBodySize"] + s["responseHeadersSize"] for s in sizes)
                views.append({"ms": drawn_ms, "bytes": wire, "requests": len(sizes)})
                context.close()
        finally:
            browser.close()
    counted = views[1:]
    return {
        "views": counted,
        "median_ms": statistics.median(v["ms"] for v in counted),
        "median_bytes": statistics.median(v["bytes"] for v in counted),
    }


def summarise(runs: list[dict]) -> dict:
    """Each ratio's median and range over the runs, beside its target."""
    summary = {}
    for name in runs[0]["ratios"]:
        values = [run["ratios"][name] for run in runs]
        summary[name] = {
            "median": statistics.median(values),
            "min": min(values),
            "max": max(values),
            "target": TARGETS.get(name),
            "rate_median": statistics.median(run[name]["rate"] for run in runs),
        }
    summary["trivial_rate_median"] = statistics.median(run["trivial"]["rate"] for run in runs)
    return summary


def create_events(env: dict[str, str], runs: int, buyers: int) -> list[dict[str, str]]:
    """Operator set-up, not measured: per run an event for each phase, one stadium for all."""
    stamp = time.strftime("%H%M%S")
    rows = str(buyers // 50 + 1)
    common = ["--seats-per-row", "50", "--price", "100000", "--max-per-buyer", "6", "--no-waiting-room"]
    stadium = f"bench-stadium-{stamp}"
    manage("create_event", "--slug", stadium, "--rows", str(STADIUM["rows"]), "--sections", "10", *common, env=env)
    per_run = []
    for run in range(runs):
        slugs = {"stadium": stadium}
        for phase in ("holds", "whole", "hot"):
            slugs[phase] = f"bench-{phase}-{stamp}-{run}"
            manage("create_event", "--slug", slugs[phase], "--rows", rows, *common, env=env)
        per_run.append(slugs)
    # Fresh statistics, as after any bulk load: the planner then reads one buyer's holds through its
    # index, not all of an event's (a fresh bench database is otherwise analysed while nearly empty).
    manage("dbshell", "--", "-c", "ANALYZE", env=env)
    return per_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--start", action="store_true", help="(the default) start nginx and both lanes on a bench database"
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--buyers", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=3, help="processes of each lane")
    parser.add_argument("--threads", type=int, default=4, help="threads of each process")
    parser.add_argument("--port", type=int, default=8740)
    parser.add_argument("--no-browser", action="store_true", help="skip the stadium's first view in Chromium")
    parser.add_argument("--json", default="bench-holds.json", help="write the figures here")
    args = parser.parse_args()
    if args.buyers * args.runs > STADIUM["rows"] * STADIUM["seats_per_row"]:
        parser.error("the stadium has 50,000 seats: runs x buyers must fit")

    lanes = {"CONCURRENCY": str(args.workers), "THREADS": str(args.threads), "NICE": "0", "DB_POOL_MAX": "4"}
    env = bench_env(
        WAITING_ROOM_DEFAULT_MODE="off",
        **{f"{lane}_{key}": value for lane in ("LOBBY", "BOOKING") for key, value in lanes.items()},
    )
    ensure_database(env)
    events = create_events(env, args.runs, args.buyers)
    with tempfile.TemporaryDirectory(prefix="bench-holds-") as logs:
        with front(env, Path(logs), port=args.port, lobby_port=args.port + 1, booking_port=args.port + 2) as stack:
            base = stack.url
            runs = [
                run_load(one_run(base, run, events[run], args.buyers, args.concurrency, lambda: analyze_holds(env)))
                for run in range(args.runs)
            ]
            browser = (
                None if args.no_browser else first_view_in_chromium(base + seatmap.shell_path(events[0]["stadium"]))
            )
    figures = {"machine": describe_machine(), "buyers": args.buyers, "runs": runs, "summary": summarise(runs)}
    figures["stadium_first_view"] = browser
    print(f"\nover {args.runs} runs (median [min-max] of the trivial view's rate, target):")
    for name, row in figures["summary"].items():
        if isinstance(row, dict):
            target = f"  target >= {row['target']}" if row["target"] else ""
            print(
                f"  {name:<14} {row['median']:.3f}x [{row['min']:.3f}-{row['max']:.3f}]  {row['rate_median']:.0f}/s{target}"
            )
    if browser:
        print(
            f"  stadium first view on a phone (4x CPU): {browser['median_bytes'] / 1000:.1f} KB on the wire, "
            f"drawn in {browser['median_ms']} ms (median of {len(browser['views'])})"
        )
    Path(args.json).write_text(json.dumps(figures, indent=2))
    print(f"figures written to {args.json}")


if __name__ == "__main__":
    main()
