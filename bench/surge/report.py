"""The drop's figures: printed, as surge.json's keys, and drawn as a timeline."""

from pathlib import Path

from bench.common import Stats, describe_machine
from bench.surge.buyers import Buyer, Run
from bench.surge.stack import pool_total


def out_of_order_share(buyers: list[Buyer]) -> float | None:
    """Share of admitted buyers let in while someone who joined before them was still waiting."""
    admitted = [b for b in buyers if b.ticket is not None and b.admitted_at is not None]
    if not admitted:
        return None
    admitted.sort(key=lambda b: b.admitted_at, reverse=True)
    out_of_order, lowest_later, i = 0, float("inf"), 0
    while i < len(admitted):
        j = i
        while j < len(admitted) and admitted[j].admitted_at == admitted[i].admitted_at:
            j += 1
        batch = admitted[i:j]
        out_of_order += sum(1 for b in batch if b.ticket > lowest_later)
        lowest_later = min(lowest_later, *(b.ticket for b in batch))
        i = j
    return out_of_order / len(admitted)


def draw(samples: list[dict], run: Run, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [s["t"] for s in samples]
    fig, (people, seats, latency) = plt.subplots(3, 1, figsize=(10, 9), sharex=True)
    gap = float("nan")  # Redis down (--fault redis-restart): a gap in the line
    people.plot(t, [gap if s["waiting"] is None else s["waiting"] for s in samples], label="waiting")
    people.plot(t, [gap if s["inside"] is None else s["inside"] for s in samples], label="inside")
    people.set_ylabel("people")
    people.legend(loc="upper right")
    seats.plot(t, [s["held"] for s in samples], label="seats held")
    seats.plot(t, [s["sold"] for s in samples], label="seats sold")
    seats.plot(t, [s["pg_connections"] for s in samples], label="PostgreSQL connections", linestyle=":")
    seats.set_ylabel("seats / connections")
    seats.legend(loc="upper left")
    buckets: dict[int, list[float]] = {}
    for began, seconds, _status in run.timeline:
        buckets.setdefault(int(began), []).append(seconds * 1000)
    xs = sorted(buckets)
    p50 = [sorted(buckets[x])[len(buckets[x]) // 2] for x in xs]
    p95 = [sorted(buckets[x])[int(len(buckets[x]) * 0.95)] for x in xs]
    latency.plot(xs, p50, label="p50")
    latency.plot(xs, p95, label="p95")
    latency.set_ylabel("request latency (ms)")
    latency.set_xlabel("seconds since the drop opened")
    latency.legend(loc="upper right")
    fig.suptitle(f"Ticket drop: {run.args.buyers:,} buyers, {run.args.seats:,} seats")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def report(run: Run, buyers, samples, flow_seconds, baseline: Stats, capacity: Stats, audit: dict, audit_ok: bool):
    args = run.args
    for stats in run.steps.values():
        stats.elapsed = flow_seconds  # each step's rate over the whole drop
    outcomes: dict[str, int] = {}
    for b in buyers:
        outcomes[b.outcome] = outcomes.get(b.outcome, 0) + 1
    holds = run.stats("hold")
    holds_ok = holds.statuses.get(201, 0) + holds.statuses.get(200, 0)
    confirmed = outcomes.get("confirmed", 0)
    requests = sum(s.count for s in run.steps.values())
    # Sold out: no seat free any more (sold, or held by a live hold).
    sold_out = next((s["t"] for s in samples if s["sold"] + s["held"] >= args.seats), None)
    all_sold = next((s["t"] for s in samples if s["sold"] >= args.seats), None)
    status_codes: dict[int, int] = {}
    for stats in run.steps.values():
        for code, n in stats.statuses.items():
            status_codes[code] = status_codes.get(code, 0) + n
    fifth = sum(n for code, n in status_codes.items() if code >= 500)
    figures = {
        "machine": describe_machine(),
        "buyers": args.buyers,
        "seats": args.seats,
        "capacity": args.capacity,
        "rate_per_minute": args.rate,
        "flow_seconds": round(flow_seconds, 2),
        "time_to_sell_out_seconds": sold_out,
        "time_to_all_sold_seconds": all_sold,
        "holds": holds_ok,
        "holds_per_second": round(holds_ok / flow_seconds, 2),
        "confirmed_bookings": confirmed,
        "confirmed_per_second": round(confirmed / flow_seconds, 2),
        "requests": requests,
        "requests_per_second": round(requests / flow_seconds, 2),
        "trivial_rps": round(baseline.rate, 1),
        "whole_buyer_rps": round(capacity.rate, 1),
        "whole_buyer_ratio": round(capacity.rate / baseline.rate, 3) if baseline.rate else None,
        "steps": {name: stats.as_dict() for name, stats in run.steps.items()},
        "status_codes": status_codes,
        "expected_conflicts_409": status_codes.get(409, 0),
        "waiting_room_429": status_codes.get(429, 0),
        "errors_5xx": fifth,
        "errors_5xx_inside": run.inside_5xx,
        "timeouts": run.timeouts,
        "timeouts_inside": run.timeouts_inside,
        "errors": run.errors,
        "outcomes": outcomes,
        "fairness_out_of_order_share": out_of_order_share(buyers),
        "pg_connections_peak": max((s["pg_connections"] for s in samples), default=0),
        "pg_pool_total": pool_total(args),
        "audit": audit,
        "audit_clean": audit_ok,
    }
    print(
        f"\n{describe_machine()}: {args.buyers:,} buyers, {args.seats:,} seats, capacity {args.capacity}, "
        f"rate {args.rate}/min"
    )
    print(baseline.line())
    print(capacity.line(baseline))
    for stats in run.steps.values():
        print(stats.line(baseline))
    print(f"\nno seat free after      {sold_out} s; every seat sold after {all_sold} s")
    print(
        f"holds                   {holds_ok} ({figures['holds_per_second']}/s), confirmed {confirmed} "
        f"({figures['confirmed_per_second']}/s), requests {requests} ({figures['requests_per_second']}/s)"
    )
    print(
        f"status codes            {dict(sorted(status_codes.items()))}; timeouts {run.timeouts} "
        f"({run.timeouts_inside} of buyers inside); "
        f"5xx for buyers inside {run.inside_5xx}"
    )
    print(f"outcomes                {outcomes}")
    share = figures["fairness_out_of_order_share"]
    print(f"admitted out of order   {'n/a' if share is None else f'{share:.3%}'}")
    print(f"PostgreSQL connections  peak {figures['pg_connections_peak']} (pool total {figures['pg_pool_total']})")
    print("audit:")
    for name, count in audit.items():
        print(f"  {count:>6}  {name}")
    print("audit clean" if audit_ok else "AUDIT FAILED")
    return figures


def arrival_figures(run: Run, buyers: list[Buyer], baseline: Stats, page: Stats, poll: Stats) -> dict:
    """The front door's figures (top-level keys, for scripts to check)."""
    place = Stats(
        "place in line", [b.place_at - b.first_at for b in buyers if b.place_at is not None and b.first_at is not None]
    )
    to_place = [b.requests_to_place for b in buyers if b.requests_to_place is not None]
    last_arrival = max((b.first_at for b in buyers if b.first_at is not None), default=0.0)
    during = Stats(
        "holds inside during the burst", [latency for began, latency in run.holds_ok if began <= last_arrival]
    )
    first_hold = min((began + latency for began, latency in run.holds_ok), default=None)
    return {
        "arrival_timeouts": run.arrival_timeouts,
        "arrival_5xx": run.arrival_5xx,
        "buyers_without_a_place": sum(1 for b in buyers if b.place_at is None),
        "place_in_line_p50_ms": round(place.pct(50), 1),
        "place_in_line_p99_ms": round(place.pct(99), 1),
        "place_in_line_max_ms": round(place.pct(100), 1),
        "first_hold_after_s": None if first_hold is None else round(first_hold, 3),
        "inside_holds_during_burst": during.count,
        "inside_hold_p99_ms_during_burst": round(during.pct(99), 1) if during.count else None,
        "arrival_window_s": round(last_arrival, 2),
        "arrival_requests_per_buyer": round(sum(to_place) / len(to_place), 3) if to_place else None,
        "arrival_requests_per_buyer_max": max(to_place, default=None),
        "trivial_rps_through_front": round(baseline.rate, 1),
        "event_page_rps": round(page.rate, 1),
        "event_page_ratio": round(page.rate / baseline.rate, 3) if baseline.rate else None,
        "first_status_rps": round(poll.rate, 1),
        "first_status_ratio": round(poll.rate / baseline.rate, 3) if baseline.rate else None,
        "arrival_path_steps": {"event_page": page.as_dict(), "first_status": poll.as_dict()},
    }


def print_arrival(figures: dict, baseline: Stats, page: Stats, poll: Stats) -> None:
    print("\nthe front door (through nginx):")
    print(page.line(baseline))
    print(poll.line(baseline))
    for name in (
        "arrival_timeouts",
        "arrival_5xx",
        "buyers_without_a_place",
        "place_in_line_p50_ms",
        "place_in_line_p99_ms",
        "first_hold_after_s",
        "inside_holds_during_burst",
        "inside_hold_p99_ms_during_burst",
        "arrival_requests_per_buyer",
        "arrival_requests_per_buyer_max",
    ):
        print(f"  {name:<34} {figures[name]}")
