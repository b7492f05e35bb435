"""The seat map as the load generator's browsers read it: the shell page, the event's layout and
its availability (apps/booking/seatmap.py). Pure functions over the two JSON documents, so the
drop and the hold benchmarks pick seats the way static/js/seatmap.js does, and the reads a browser
makes to show the map (open_seat_map)."""

from bench.common import cookie_header


def shell_path(slug: str) -> str:
    return f"/events/{slug}/seats/"


def layout_path(slug: str) -> str:
    return f"/events/{slug}/layout.json"


def availability_path(slug: str) -> str:
    return f"/events/{slug}/seats/availability.json"


def _numbers(runs: list[int]) -> list[int]:
    """[first, count, first, count, ...] -> the seat numbers."""
    numbers: list[int] = []
    for first, count in zip(runs[::2], runs[1::2], strict=True):
        numbers.extend(range(first, first + count))
    return numbers


def free_labels(layout: dict, availability: dict) -> list[str]:
    """The labels of the seats the availability document does not list as held, sold or blocked,
    in map order."""
    taken = {
        (row, number)
        for state in ("held", "sold", "blocked")
        for row, runs in availability.get(state, {}).items()
        for number in _numbers(runs)
    }
    labels = layout.get("labels", {})
    free = []
    for section in layout["sections"]:
        for row, *runs in section["rows"]:
            for number in _numbers(runs):
                if (row, number) not in taken:
                    free.append(labels.get(f"{row}-{number}", f"{row}-{number}"))
    return free


async def open_seat_map(http, slug: str):
    """What a browser does to show the map: the shell, the layout and the availability, each sent
    the cookies the ones before it set. Returns that cookie jar (the hold's CSRF token is in it)
    and the availability's answer."""
    jar: dict[str, str] = {}
    for path in (shell_path(slug), layout_path(slug), availability_path(slug)):
        reply = await http.get(path, headers=cookie_header(jar))
        jar.update(reply.cookies)
    return jar, reply
