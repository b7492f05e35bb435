"""Hold throughput: N buyers hold distinct seats at once, then the same load on one hot seat.

    python -m bench.holds --start            # start gunicorn on a bench database, create events, measure
    python -m bench.holds --url http://127.0.0.1:8000 --distinct-event E1 --hot-event E2

Prints holds per second with p50/p99 latency beside the req/s of the trivial /healthz view
measured in the same run, as a ratio (the figure that holds on a noisy machine).
"""

import argparse
import asyncio
import json
import re
import time

from bench.common import (
    bench_env,
    client,
    describe_machine,
    drive,
    ensure_database,
    manage,
    trivial_baseline,
    web_server,
)

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


async def prepare_buyers(base_url: str, slug: str, count: int, concurrency: int) -> list[tuple[str, str]]:
    """Each buyer loads the seat page once (its cookie and CSRF token), as a browser would; not timed."""
    tokens: list[tuple[str, str]] = []
    async with client(base_url) as http:

        async def one(i):
            response = await http.get(f"/events/{slug}/seats/")
            tokens.append((response.cookies["csrftoken"], CSRF.search(response.text).group(1)))
            return response

        await drive("seat page (setup)", count, concurrency, one)
    return tokens


async def hold_load(base_url: str, slug: str, name: str, buyers: int, concurrency: int, seat_for) -> object:
    tokens = await prepare_buyers(base_url, slug, buyers, concurrency)
    async with client(base_url) as http:

        def hold(i):
            cookie, token = tokens[i]
            return http.post(
                f"/events/{slug}/hold/",
                data={
                    "seat": seat_for(i),
                    "name": f"Bench {i}",
                    "email": f"bench{i}@example.com",
                    "phone": "+919800000000",
                    "csrfmiddlewaretoken": token,
                },
                headers={"Accept": "application/json", "Cookie": f"csrftoken={cookie}", "Referer": base_url + "/"},
            )

        return await drive(name, buyers, concurrency, hold)


def seat_label(i: int, per_row: int = 50) -> str:
    row, number = divmod(i, per_row)
    label = ""
    row += 1
    while row:
        row, rem = divmod(row - 1, 26)
        label = chr(65 + rem) + label
    return f"{label}-{number + 1}"


async def measure(base_url: str, distinct_slug: str, hot_slug: str, buyers: int, concurrency: int) -> dict:
    baseline = await trivial_baseline(base_url, buyers * 2, concurrency)
    distinct = await hold_load(base_url, distinct_slug, "hold, distinct seats", buyers, concurrency, seat_label)
    hot = await hold_load(base_url, hot_slug, "hold, one hot seat (409s)", buyers, concurrency, lambda i: "A-1")
    print(f"\n{describe_machine()}; {buyers} buyers, {concurrency} in flight")
    for stats in (baseline, distinct, hot):
        print(stats.line(baseline))
    return {
        "baseline": baseline.as_dict(),
        "distinct": distinct.as_dict(),
        "hot": hot.as_dict(),
        "distinct_ratio": distinct.rate / baseline.rate,
        "hot_ratio": hot.rate / baseline.rate,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running server; otherwise use --start")
    parser.add_argument("--start", action="store_true", help="start gunicorn on a bench database and create events")
    parser.add_argument("--buyers", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--distinct-event")
    parser.add_argument("--hot-event")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()

    if args.start:
        env = bench_env(WAITING_ROOM_DEFAULT_MODE="off", DB_POOL_MAX="4")
        ensure_database(env)
        stamp = time.strftime("%H%M%S")
        rows = args.buyers // 50 + 1
        distinct, hot = f"bench-holds-{stamp}", f"bench-hot-{stamp}"
        for slug in (distinct, hot):
            manage(
                "create_event",
                "--slug",
                slug,
                "--rows",
                str(rows),
                "--seats-per-row",
                "50",
                "--price",
                "100000",
                "--max-per-buyer",
                "6",
                env=env,
            )
        with web_server(env, port=8731, workers=args.workers) as url:
            figures = asyncio.run(measure(url, distinct, hot, args.buyers, args.concurrency))
    else:
        if not (args.url and args.distinct_event and args.hot_event):
            parser.error("give --start, or --url with --distinct-event and --hot-event")
        figures = asyncio.run(measure(args.url, args.distinct_event, args.hot_event, args.buyers, args.concurrency))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(figures, out, indent=2)


if __name__ == "__main__":
    main()
