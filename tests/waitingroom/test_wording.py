"""What the waiting room says: the opening on the venue's clock with a countdown (not "Opens in
1127 s"), what a place is (not a ticket), the fairness proof, and text colours a reader can read."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from django.utils.dateformat import format as format_date

from apps.waitingroom import queue, selectors
from apps.waitingroom.contract import RoomKeys
from apps.waitingroom.presentation import until_opening
from tests.factories import browser, make_event
from tests.waitingroom.conftest import open_room

STATIC = Path(__file__).resolve().parents[2] / "static" / "css"


def expected_opening(event) -> str:
    """The badge's words for this opening: the time alone on its day (on the venue's clock)."""
    local = event.local(event.sale_opens_at)
    if local.date() == event.local(timezone.now()).date():
        return f"Opens at {local:%H:%M} IST"
    return f"Opens {format_date(local, 'D j M Y, H:i')} IST"  # just before the venue's midnight


@pytest.fixture
def early_event(db):
    event = make_event(sale_opens_at=timezone.now() + timedelta(minutes=19))
    open_room(event)
    return event


@pytest.mark.parametrize(
    "seconds, words",
    [(1127, "in 18 min 47 s"), (59, "in 59 s"), (60, "in 1 min 0 s"), (7500, "in 2 h 5 min"), (273_600, "in 3 d 4 h")],
)
def test_time_left_is_said_in_minutes_and_seconds(seconds, words):
    assert until_opening(seconds) == words
    assert until_opening(0) == "opening now"


@pytest.mark.django_db
def test_the_waiting_page_names_the_opening_on_the_venue_s_clock(client, early_event):
    html = client.get(f"/queue/{early_event.slug}/").content.decode()
    assert f'<strong id="wr-opening">{expected_opening(early_event)}</strong>' in html
    assert "Opens in" not in html and " s.</p>" not in html


@pytest.mark.django_db
def test_the_status_carries_the_opening_and_its_zone(early_event):
    status = browser("early-1").get(f"/queue/{early_event.slug}/status").json()
    assert status["prequeue"] is True
    assert status["opens_at_ms"] == int(early_event.sale_opens_at.timestamp() * 1000)
    assert status["opening"] == expected_opening(early_event)
    assert 18 * 60 < status["opens_in_seconds"] <= 19 * 60
    assert re.fullmatch(r"[0-9a-f]{16}", status["place_code"]) and "ticket" not in status


@pytest.mark.django_db
def test_the_page_without_javascript_counts_down_in_minutes_and_seconds(early_event):
    html = browser("early-2").get(f"/queue/{early_event.slug}/place").content.decode()
    assert f'<strong id="wr-opening">{expected_opening(early_event)}</strong>' in html
    assert re.search(r'<span id="wr-opens-in" role="timer">in 1[89] min \d{1,2} s</span>', html)


@pytest.mark.django_db
def test_a_place_is_explained_and_never_called_a_ticket(client, early_event):
    html = client.get(f"/queue/{early_event.slug}/").content.decode()
    panel = html[html.index('id="wr"') : html.index("This page updates by itself")]
    assert "Your ticket" not in panel and panel.lower().count("ticket") == 1  # "It is not a ticket"
    assert "Your place code:" in html
    assert "It is not a ticket, and seats are not guaranteed" in html
    assert "fingerprint (SHA-256), published before the opening" in html


@pytest.mark.django_db
def test_another_zone_is_named(client):
    event = make_event(sale_opens_at=timezone.now() + timedelta(days=2))
    event.time_zone = "America/New_York"
    event.save()
    open_room(event)
    status = browser("ny").get(f"/queue/{event.slug}/status").json()
    zone = event.local(event.sale_opens_at).tzname()
    assert zone in ("EST", "EDT") and status["opening"].endswith(f" {zone}") and "IST" not in status["opening"]


@pytest.mark.django_db
def test_a_mirror_without_the_zone_is_restored_from_the_database(early_event):
    queue.client().hdel(RoomKeys.of(early_event.id).cfg, "tz")  # written before the zone was mirrored
    room = selectors.room_event(early_event.slug)
    assert room is not None and room.time_zone == "Asia/Kolkata"
    assert queue.client().hget(RoomKeys.of(early_event.id).cfg, "tz") == b"Asia/Kolkata"


# --- Colours ----------------------------------------------------------------------------


def luminance(hex_colour: str) -> float:
    """WCAG 2.x relative luminance of an sRGB colour."""
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def six_digits(colour: str) -> str:
    return "#" + "".join(c * 2 for c in colour[1:]) if re.fullmatch(r"#[0-9a-fA-F]{3}", colour) else colour


def site_variables() -> dict[str, str]:
    root = re.search(r":root\s*{([^}]*)}", (STATIC / "site.css").read_text()).group(1)
    return {name: six_digits(value) for name, value in re.findall(r"--([\w-]+)\s*:\s*(#[0-9a-fA-F]{3,6})\b", root)}


def text_colours(css: str) -> list[tuple[str, str]]:
    """(selector, colour) of every `color:` in a stylesheet, variables resolved."""
    variables = site_variables()
    found = []
    for selector, body in re.findall(r"([^{}]+){([^}]*)}", re.sub(r"/\*.*?\*/", "", css, flags=re.S)):
        for value in re.findall(r"(?<![-\w])color\s*:\s*([^;]+)", body):
            value = value.strip()
            var = re.fullmatch(r"var\(--([\w-]+)\)", value)
            found.append((selector.strip(), variables[var.group(1)] if var else six_digits(value)))
    return found


def test_the_contrast_formula_matches_the_known_failure():
    assert round(contrast("#b7791f", "#ffffff"), 2) == 3.64  # the paused notice before (issue 15)
    assert round(contrast("#000000", "#ffffff"), 2) == 21.0


def test_every_waiting_room_text_colour_is_at_least_4_5_to_1_on_the_card():
    card = site_variables()["card"]
    colours = text_colours((STATIC / "waitingroom.css").read_text())
    paused = [colour for selector, colour in colours if 'data-state="paused"' in selector]
    assert paused, "the paused notice has its own colour"
    assert contrast(paused[0], card) >= 4.5
    assert len(colours) >= 3  # admitted/open, sold out/closed, paused: every one is checked
    for selector, colour in colours:
        assert re.fullmatch(r"#[0-9a-fA-F]{6}", colour), (selector, colour)
        assert contrast(colour, card) >= 4.5, (selector, colour, round(contrast(colour, card), 2))
    # The muted small print the panel uses (site.css .small) too.
    assert contrast(site_variables()["muted"], card) >= 4.5
