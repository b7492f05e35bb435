"""Ticket codes (apps/booking/tickets.py): one per booked seat, signed, read without the database.
These tests have no database access at all (pytest-django refuses any query), so reading a code
provably needs none."""

import pytest

from apps.booking import tickets

CODE = tickets.TicketCode(event_id=12, booked_seat_id=345, seat_label="C-12", reference="9MPFYGLV")


def test_a_code_reads_back_as_its_seat_without_the_database():
    text = CODE.text
    assert text.startswith("T1.12.345.C-12.9MPFYGLV.")
    assert tickets.read(text) == CODE
    assert tickets.read(f"  {text}\n") == CODE  # as a scanner or a keyboard hands it over


@pytest.mark.parametrize(
    "forge",
    [
        lambda t: t.replace(".C-12.", ".C-13."),  # another seat
        lambda t: t.replace("T1.12.", "T1.13."),  # another event
        lambda t: t.replace(".345.", ".346."),  # another booked seat
        lambda t: t.replace(".9MPFYGLV.", ".9MPFYGLW."),  # another booking
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # a signature one character off
        lambda t: t.rsplit(".", 1)[0],  # no signature
        lambda t: "T2" + t[2:],  # an unknown version
        lambda t: "",
        lambda t: "not a ticket",
        lambda t: t + ".extra",
    ],
)
def test_a_forged_or_damaged_code_is_not_a_ticket(forge):
    assert tickets.read(forge(CODE.text)) is None


def test_a_code_signed_with_another_key_is_not_a_ticket(settings):
    text = CODE.text
    settings.SECRET_KEY = "another-deployment-" + "x" * 40
    assert tickets.read(text) is None
    assert tickets.read(CODE.text) == CODE  # that deployment's own codes read
