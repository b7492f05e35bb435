"""The seat map's bytes, built with plain string joins and compact JSON.

A 1,000-seat grid through the template engine costs ~35 ms; the HTML grid here (the page for
browsers without JavaScript) costs ~2 ms, which matters because it is rebuilt after every
committed seat change while a drop is selling. The JSON documents drawn by static/js/seatmap.js
say the same in a few hundred bytes: seat numbers as runs ([first, count, first, count, ...])
per row, and only the seats that are *not* free, so a fresh event's availability is nearly
empty and a 50,000-seat layout is a few KB once gzipped."""

import json
from html import escape

from apps.booking.selectors import Availability, SeatLayout, SeatMap
from apps.core.money import format_rupees as rupees


def seat_grid_html(seat_map: SeatMap) -> str:
    parts = [
        f'<div class="seat-grid" data-available="{seat_map.available}">',
        f'<p class="availability"><strong>{seat_map.available}</strong> of {seat_map.total} seats available.</p>',
    ]
    for section in seat_map.sections:
        price = rupees(section.price_paise)
        parts.append(
            f'<fieldset class="section" data-price="{section.price_paise}"><legend>{escape(section.name)} · {price} '
            f'<span class="small">({section.available} left)</span></legend>'
        )
        for row_label, seats in section.rows:
            row = escape(row_label)
            parts.append(f'<div class="row"><span class="row-label" aria-hidden="true">{row}</span>')
            for seat in seats:
                disabled = "" if seat.state == "available" else " disabled"
                parts.append(
                    f'<label class="seat {seat.state}"><input type="checkbox" name="seat" value="{escape(seat.label)}"'
                    f' aria-label="Row {row} seat {seat.number}, {price}, {seat.state}"{disabled}>'
                    f"<span>{seat.number}</span></label>"
                )
            parts.append(f'<span class="row-label" aria-hidden="true">{row}</span></div>')
        parts.append("</fieldset>")
    parts.append("</div>")
    return "".join(parts)


def runs(numbers: list[int]) -> list[int]:
    """Sorted seat numbers as [first, count, first, count, ...]: a row 1..50 is [1, 50]."""
    out: list[int] = []
    for number in numbers:
        if out and out[-2] + out[-1] == number:
            out[-1] += 1
        else:
            out += [number, 1]
    return out


def _json(document) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def layout_json(layout: SeatLayout) -> bytes:
    """{"sections": [{"id", "name", "price" (paise), "seats", "rows": [[row, first, count, ...], ...]}],
    "labels": {"<row>-<number>": label}} (labels only where a seat's label is not "<row>-<number>")."""
    return _json(
        {
            "sections": [
                {
                    "id": section.id,
                    "name": section.name,
                    "price": section.price_paise,
                    "seats": section.seats,
                    "rows": [[row, *runs(numbers)] for row, numbers in section.rows],
                }
                for section in layout.sections
            ],
            "labels": layout.labels,
        }
    )


def availability_json(availability: Availability) -> bytes:
    """{"on_sale", "left" (free seats in scope), "sections": {id: free seats},
    and per state that is not free ("held", "sold", "blocked"): {row: [first, count, ...]}}."""
    document = {
        "on_sale": availability.on_sale,
        "left": sum(availability.left.values()),
        "sections": {str(section): free for section, free in availability.left.items()},
    }
    for state, rows in sorted(availability.taken.items()):
        document[state] = {row: runs(numbers) for row, numbers in rows.items()}
    return _json(document)
