"""PostgreSQL direct or behind PgBouncer (transaction mode), with and without Django's own pool:
the hold through the front (nginx, two lanes), all three set-ups in each run, interleaved, so the
figures share the machine's state. The decision they inform is in docs/scale-out.md.

    python -m bench.pgbouncer                      # 3 runs of 1,000 holds; figures in bench-pgbouncer.json
    python -m bench.pgbouncer --runs 1 --buyers 300

Set-ups (each its own front and lanes; the same processes and threads):
  direct         Django's pool (DB_POOL_MAX per process) straight to PostgreSQL: today's single node
  bouncer+pool   Django's pool, its connections to PgBouncer
  bouncer        no Django pool: a connection to PgBouncer per request (cheap on loopback)
"""

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import describe_machine, run_load
from bench.holds import holds, seat_label
from devstack.env import bench_env
from devstack.pgbouncer import PgBouncer
from devstack.processes import ensure_database, manage
from devstack.stack import front

SETUPS = ("direct", "bouncer+pool", "bouncer")


def setup_env(base: dict[str, str], setup: str, bouncer: PgBouncer, database: str) -> dict[str, str]:
    if setup == "direct":
        return base
    return {
        **base,
        "DATABASE_URL": bouncer.url(database),
        "DB_BEHIND_PGBOUNCER": "true",
        "DB_POOL": "true" if setup == "bouncer+pool" else "false",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--buyers", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=3, help="processes of each lane")
    parser.add_argument("--threads", type=int, default=4, help="threads of each process")
    parser.add_argument("--pool-size", type=int, default=12, help="PgBouncer's server connections")
    parser.add_argument("--port", type=int, default=8760)
    parser.add_argument("--json", default="bench-pgbouncer.json", help="write the figures here")
    args = parser.parse_args()

    lanes = {"CONCURRENCY": str(args.workers), "THREADS": str(args.threads), "NICE": "0", "DB_POOL_MAX": "4"}
    env = bench_env(
        WAITING_ROOM_DEFAULT_MODE="off",
        **{f"{lane}_{key}": value for lane in ("LOBBY", "BOOKING") for key, value in lanes.items()},
    )
    ensure_database(env)
    database = env["DATABASE_URL"].rsplit("/", 1)[-1]
    stamp = time.strftime("%H%M%S")
    rows = str(args.buyers // 50 + 1)
    common = ["--rows", rows, "--seats-per-row", "50", "--price", "100000", "--max-per-buyer", "6", "--no-waiting-room"]
    slugs = {(run, s): f"bench-pgb-{stamp}-{run}-{s.replace('+', '-')}" for run in range(args.runs) for s in SETUPS}
    for slug in slugs.values():
        manage("create_event", "--slug", slug, *common, env=env)
    manage("dbshell", "--", "-c", "ANALYZE", env=env)

    runs: list[dict[str, dict]] = []
    with tempfile.TemporaryDirectory(prefix="bench-pgbouncer-") as tmp:
        with PgBouncer(Path(tmp) / "pgbouncer", pool_size=args.pool_size) as bouncer:
            for run in range(args.runs):
                figures = {}
                for n, setup in enumerate(SETUPS):
                    logs = Path(tmp) / f"{run}-{n}"
                    logs.mkdir()
                    port = args.port + 10 * n
                    with front(
                        setup_env(env, setup, bouncer, database),
                        logs,
                        port=port,
                        lobby_port=port + 1,
                        booking_port=port + 2,
                    ) as stack:
                        people = 1_000_000 * (run + 1) + 100_000 * n
                        stats = run_load(
                            holds(
                                stack.url,
                                slugs[(run, setup)],
                                f"hold, {setup}",
                                args.buyers,
                                args.concurrency,
                                seat_label,
                                people,
                            )
                        )
                    print(stats.line())
                    figures[setup] = stats.as_dict()
                runs.append(figures)
                print(f"run {run + 1} done: {describe_machine()}")

    summary = {}
    for setup in SETUPS:
        rates = [r[setup]["rate"] for r in runs]
        summary[setup] = {
            "rate_median": statistics.median(rates),
            "rate_min": min(rates),
            "rate_max": max(rates),
            "p50_ms_median": statistics.median(r[setup]["p50_ms"] for r in runs),
            "p99_ms_median": statistics.median(r[setup]["p99_ms"] for r in runs),
            "vs_direct": round(statistics.median(rates) / statistics.median(r["direct"]["rate"] for r in runs), 3),
        }
    print(f"\nholds over {args.runs} runs of {args.buyers} (median [min-max]):")
    for setup, row in summary.items():
        print(
            f"  {setup:<13} {row['rate_median']:7.1f}/s [{row['rate_min']:.1f}-{row['rate_max']:.1f}]  "
            f"p50 {row['p50_ms_median']:.1f} ms  p99 {row['p99_ms_median']:.1f} ms  {row['vs_direct']:.2f}x direct"
        )
    out = {"machine": describe_machine(), "buyers": args.buyers, "runs": runs, "summary": summary}
    Path(args.json).write_text(json.dumps(out, indent=2))
    print(f"figures written to {args.json}")


if __name__ == "__main__":
    main()
