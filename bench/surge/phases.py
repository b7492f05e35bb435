"""The measurements before the drop: the arrival path alone and whole buyers without a waiting room."""

from bench import seatmap
from bench.common import Crowd, Stats, drive
from bench.holds import hold_request, seat_label


async def arrival_path_phase(base: str, slug: str, requests: int, concurrency: int) -> tuple[Stats, Stats]:
    """The two requests of an arrival, each on its own: the event page (through the front's
    micro-cache) and the first status call (a new visitor each time: the join), spread over many
    source addresses as real arrivals are."""
    crowd = Crowd(base, per_address=1, connections=2)
    try:

        async def event_page(i):
            return await (await crowd.http(i % 600)).get(f"/events/{slug}/")

        async def first_poll(i):  # within every per-address limit: 5 joins per address
            return await (await crowd.http(600 + i % 600)).get(
                f"/queue/{slug}/status", headers={"Accept": "application/json"}
            )

        # A real arrival's status call rides the connection its event page opened: open every
        # address's connection first (not measured), as the trivial view's are.
        async def open_connection(i):
            return await (await crowd.http(i)).get("/healthz")

        await drive("warm-up", 1200, concurrency, open_connection)
        page = await drive("arrival: event page", requests, concurrency, event_page)
        poll = await drive("arrival: first status call (join)", requests, concurrency, first_poll)
    finally:
        await crowd.close()
    return page, poll


async def capacity_phase(base: str, slug: str, buyers: int, concurrency: int) -> Stats:
    """Whole buyers (seat page + hold) per second on an event without a waiting room."""
    crowd = Crowd(base, per_address=1, connections=2)  # each buyer from an address of its own: caps stay on
    try:

        async def whole_buyer(i):
            http = await crowd.http(20_000 + i)
            jar, _ = await seatmap.open_seat_map(http, slug)
            return await hold_request(http, base, slug, 20_000 + i, seat_label(i), jar)

        return await drive("whole buyer (seat map + hold)", buyers, concurrency, whole_buyer)
    finally:
        await crowd.close()
