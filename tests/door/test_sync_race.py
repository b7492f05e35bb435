"""Gates coming back online at the same moment sync overlapping queues: real threads, each with its
own PostgreSQL connection, call services.sync_check_ins at once. Every seat is let in exactly once:
one gate's answer says admitted, the others' say duplicate and name that gate. The control runs the
same race with a sync that looks before it writes, and sees seats let in twice."""

import random
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from apps.booking import links, services, tickets
from apps.booking.models import BookedSeat
from apps.booking.services import QueuedScan, SyncOutcome
from tests.concurrency.harness import race
from tests.factories import make_event
from tests.payments.test_audit import audit, paid_booking

GATES = 4
SEATS = 24  # four bookings of six
OVERLAP = 12  # each gate's queue: 12 of the 24 seats, sliding, so every seat is in two queues or more


def all_codes(event) -> list[str]:
    codes = []
    for n in range(SEATS // 6):
        booking = paid_booking(event, [f"{'ABCD'[n]}-{i}" for i in range(1, 7)], n + 1)
        codes += [code for _, code in links.gate_codes(booking)]
    return codes


def queues(codes: list[str]) -> list[list[QueuedScan]]:
    """Gate i queued seats i*6 .. i*6+11 (wrapping), in its own shuffled order."""
    scanned = timezone.now() - timedelta(minutes=5)
    out = []
    for gate in range(GATES):
        mine = [codes[(gate * 6 + k) % SEATS] for k in range(OVERLAP)]
        random.Random(gate).shuffle(mine)
        out.append(
            [
                QueuedScan(code=c, gate=f"Gate {gate}", scanned_at=scanned + timedelta(seconds=k))
                for k, c in enumerate(mine)
            ]
        )
    return out


@pytest.mark.django_db(transaction=True)
def test_gates_syncing_overlapping_queues_let_each_seat_in_once():
    event = make_event()
    codes = all_codes(event)
    gate_queues = queues(codes)
    results = race(lambda i: services.sync_check_ins(event=event, scans=gate_queues[i]), GATES)
    assert not [r for r in results if isinstance(r, Exception)], results

    admitted: dict[str, list[str]] = {}
    duplicates = []
    for answers in results:
        for answer in answers:
            assert answer.outcome != SyncOutcome.NOT_VALID
            if answer.outcome == SyncOutcome.ADMITTED:
                admitted.setdefault(answer.check_in.seat_label, []).append(answer.scan.gate)
            else:
                duplicates.append(answer)
    assert len(admitted) == SEATS and all(len(gates) == 1 for gates in admitted.values()), admitted
    assert len(duplicates) == GATES * OVERLAP - SEATS
    in_db = {b.seat.label: b.checked_in_gate for b in BookedSeat.objects.select_related("seat")}
    assert in_db == {label: gates[0] for label, gates in admitted.items()}
    for duplicate in duplicates:  # each duplicate names the gate that let the seat in
        assert duplicate.check_in.gate == in_db[duplicate.check_in.seat_label] != duplicate.scan.gate
    code, output = audit()
    assert code == 0, output


def _sync_that_looks_first(*, event, scans: list[QueuedScan], looked: threading.Barrier) -> list[str]:
    """The bug check_in's conditional UPDATE prevents: read which seats are free, then write."""
    ids = {tickets.read(s.code).booked_seat_id: s for s in scans}
    free = set(BookedSeat.objects.filter(pk__in=ids, checked_in_at__isnull=True).values_list("pk", flat=True))
    looked.wait(timeout=30)  # every gate has looked before any writes
    for pk in free:
        BookedSeat.objects.filter(pk=pk).update(checked_in_at=timezone.now(), checked_in_gate=ids[pk].gate)
    connection.close()
    return [ids[pk].code for pk in free]


@pytest.mark.django_db(transaction=True)
def test_control_the_harness_catches_a_sync_that_looks_before_it_writes():
    event = make_event()
    gate_queues = queues(all_codes(event))
    looked = threading.Barrier(GATES)
    results = race(lambda i: _sync_that_looks_first(event=event, scans=gate_queues[i], looked=looked), GATES)
    admitted = [code for codes in results for code in codes]
    assert len(admitted) > len(set(admitted))  # a seat admitted by two gates: the bug is visible
