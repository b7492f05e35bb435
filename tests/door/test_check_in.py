"""Check-in at the door: each seat's code lets in once. Two gates scanning the same code at the
same moment get one green and one red: real threads race on real PostgreSQL, each with its own
connection, and a control shows the harness catches a check-in that reads before it writes."""

import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.booking import links, services
from apps.booking.models import BookedSeat
from apps.booking.services import CheckInOutcome
from tests.concurrency.harness import race
from tests.factories import make_event
from tests.payments.test_audit import paid_booking

GATES = 8


def seat_codes(booking) -> list[str]:
    return [code for _, code in links.gate_codes(booking)]


@pytest.mark.django_db
def test_a_code_lets_in_once_then_says_when_and_where():
    event = make_event()
    booking = paid_booking(event, ["A-1", "A-2"], 1)
    first, second = seat_codes(booking)
    green = services.check_in(event=event, code=first, gate="Gate 2")
    assert (
        green.admitted and green.seat_label == "A-1" and green.buyer == "Buyer 1."
    )  # first name and initial: "Asha R."
    again = services.check_in(event=event, code=first, gate="Gate 5")
    assert again.outcome == CheckInOutcome.ALREADY_IN
    assert again.gate == "Gate 2" and again.checked_in_at == green.checked_in_at
    assert services.check_in(event=event, code=second, gate="Gate 5").admitted  # the other seat
    assert BookedSeat.objects.filter(checked_in_at__isnull=False).count() == 2


@pytest.mark.django_db
def test_another_events_ticket_and_a_forged_code_are_refused_without_a_check_in():
    event, other = make_event(), make_event()
    booking = paid_booking(other, ["A-1"], 1)
    code = seat_codes(booking)[0]
    assert services.check_in(event=event, code=code, gate="G").outcome == CheckInOutcome.OTHER_EVENT
    forged = code.replace(".A-1.", ".A-2.")
    assert services.check_in(event=other, code=forged, gate="G").outcome == CheckInOutcome.NOT_A_TICKET
    assert services.check_in(event=other, code=booking.reference, gate="G").outcome == CheckInOutcome.NOT_A_TICKET
    assert not BookedSeat.objects.filter(checked_in_at__isnull=False).exists()


@pytest.mark.django_db
def test_the_deciding_update_names_only_the_row_itself():
    """A conditional UPDATE through a join becomes `WHERE id IN (subquery)`, which PostgreSQL does
    not re-check after waiting for a racing gate's lock: both gates would win (the race below
    caught it about once in two runs). The deciding statement must be a plain one-row UPDATE."""
    event = make_event()
    code = seat_codes(paid_booking(event, ["A-1"], 1))[0]
    with CaptureQueriesContext(connection) as queries:
        assert services.check_in(event=event, code=code, gate="G").admitted
    updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 1 and "SELECT" not in updates[0] and "checked_in_at" in updates[0]


@pytest.mark.django_db(transaction=True)
def test_gates_racing_on_one_code_let_it_in_exactly_once():
    event = make_event()
    code = seat_codes(paid_booking(event, ["A-1"], 1))[0]
    results = race(lambda i: services.check_in(event=event, code=code, gate=f"Gate {i}"), GATES)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert [r.outcome for r in results].count(CheckInOutcome.ADMITTED) == 1
    assert [r.outcome for r in results].count(CheckInOutcome.ALREADY_IN) == GATES - 1
    winner = next(r for r in results if r.admitted)
    assert {r.gate for r in results} == {winner.gate}  # every red names the gate that let it in
    assert BookedSeat.objects.get().checked_in_gate == winner.gate


def _read_then_write(*, event, code: str, gate: str, reads_done: threading.Barrier) -> bool:
    """The bug the conditional UPDATE prevents: look first, then write unconditionally."""
    seat = BookedSeat.objects.get(seat__event=event)
    free = seat.checked_in_at is None
    reads_done.wait(timeout=30)  # every gate has looked before any writes: the race made certain
    if free:
        BookedSeat.objects.filter(pk=seat.pk).update(checked_in_gate=gate)
    connection.close()
    return free


@pytest.mark.django_db(transaction=True)
def test_control_the_harness_catches_a_check_in_that_reads_before_it_writes():
    event = make_event()
    code = seat_codes(paid_booking(event, ["A-1"], 1))[0]
    reads_done = threading.Barrier(GATES)
    results = race(lambda i: _read_then_write(event=event, code=code, gate=f"Gate {i}", reads_done=reads_done), GATES)
    assert results.count(True) > 1  # more than one green for one seat: the bug is visible
