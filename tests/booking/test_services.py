from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.booking import services
from apps.booking.errors import (
    HoldCapReached,
    HoldExpired,
    InvalidRequest,
    LimitExceeded,
    NotOnSale,
    SeatsUnavailable,
    UnknownSeats,
)
from apps.booking.models import BookedSeat, BookingIntent, Seat
from apps.booking.signals import intent_ended
from tests.factories import buyer, make_event

pytestmark = pytest.mark.django_db


def test_hold_takes_all_seats_and_prices_them(event):
    result = services.hold_seats(event=event, seat_labels=["A-1", "a-2"], **buyer())
    assert result.created
    intent = result.intent
    assert intent.amount_paise == 2 * 150000
    seats = Seat.objects.filter(event=event, label__in=["A-1", "A-2"])
    assert {s.status for s in seats} == {Seat.Status.HELD}
    assert {s.version for s in seats} == {1}
    assert all(s.intent_id == intent.id and s.hold_expires_at == intent.expires_at for s in seats)
    assert intent.expires_at - timezone.now() > timedelta(minutes=event.hold_minutes - 1)


def _statements(queries: CaptureQueriesContext) -> list[str]:
    """What was sent to the database, without transaction control (BEGIN, COMMIT, savepoints)."""
    control = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")
    return [q["sql"] for q in queries.captured_queries if not q["sql"].lstrip().upper().startswith(control)]


def test_a_hold_is_one_statement(event):
    """On PostgreSQL the whole hold (locks, limits, intent, seats) is one round trip, and so is a refusal."""
    with CaptureQueriesContext(connection) as queries:
        result = services.hold_seats(
            event=event, seat_labels=["A-1", "A-2"], owner="v1", client_ip="192.0.2.1", **buyer()
        )
    assert len(_statements(queries)) == 1, _statements(queries)
    assert "booking_hold_seats(" in _statements(queries)[0]
    # The intent handed back is the row, built without reading it back.
    stored = BookingIntent.objects.get(pk=result.intent.id)
    fields = [
        "amount_paise",
        "currency",
        "status",
        "expires_at",
        "session_ref",
        "client_ip",
        "buyer_email",
        "created_at",
    ]
    assert {f: getattr(result.intent, f) for f in fields} == {f: getattr(stored, f) for f in fields}
    assert not result.intent._state.adding and set(stored.seats.values_list("label", flat=True)) == {"A-1", "A-2"}

    with CaptureQueriesContext(connection) as queries, pytest.raises(SeatsUnavailable):
        services.hold_seats(event=event, seat_labels=["A-2", "A-3"], owner="v2", **buyer(2))
    assert len(_statements(queries)) == 1, _statements(queries)


def test_hold_is_all_or_nothing_and_names_taken_seats(event):
    services.hold_seats(event=event, seat_labels=["A-2"], **buyer(1))
    with pytest.raises(SeatsUnavailable) as caught:
        services.hold_seats(event=event, seat_labels=["A-1", "A-2", "A-3"], **buyer(2))
    assert caught.value.labels == ["A-2"]
    assert Seat.objects.get(event=event, label="A-1").status == Seat.Status.AVAILABLE
    assert BookingIntent.objects.filter(buyer_email="buyer2@example.com").count() == 0


def test_repeated_submit_returns_the_same_intent(event):
    first = services.hold_seats(event=event, seat_labels=["B-1", "B-2"], owner="tab-1", **buyer())
    again = services.hold_seats(event=event, seat_labels=["B-2", "B-1"], owner="tab-1", **buyer())
    assert again.intent.id == first.intent.id and not again.created
    assert BookingIntent.objects.count() == 1


def test_a_hold_is_never_handed_to_another_owner(event):
    """Matched on owner and seats, never on the email: the same email elsewhere is someone else."""
    services.hold_seats(event=event, seat_labels=["B-1", "B-2"], owner="tab-1", **buyer())
    for owner in ("tab-2", ""):
        with pytest.raises(SeatsUnavailable):
            services.hold_seats(event=event, seat_labels=["B-1", "B-2"], owner=owner, **buyer())
    assert BookingIntent.objects.count() == 1


def test_caps_per_owner_and_per_address(db):
    event = make_event(max_seats_per_buyer=2, rows=2)
    services.hold_seats(event=event, seat_labels=["A-1", "A-2"], owner="v1", client_ip="192.0.2.1", **buyer(1))
    with pytest.raises(HoldCapReached) as caught:
        services.hold_seats(event=event, seat_labels=["A-3"], owner="v1", client_ip="192.0.2.99", **buyer(2))
    assert caught.value.per == "visitor" and caught.value.status == 409
    for n in range(2, 5):  # the same address, written as an IPv4-mapped IPv6 address too
        address = "::ffff:192.0.2.1" if n == 4 else "192.0.2.1"
        labels = [f"A-{2 * n - 1}", f"A-{2 * n}"]
        services.hold_seats(event=event, seat_labels=labels, owner=f"v{n}", client_ip=address, **buyer(n))
    assert BookingIntent.objects.filter(client_ip="192.0.2.1").count() == 4  # 8 seats: 4 x the per-buyer limit
    with pytest.raises(HoldCapReached) as caught:
        services.hold_seats(event=event, seat_labels=["B-8"], owner="v8", client_ip="192.0.2.1", **buyer(8))
    assert caught.value.per == "address" and isinstance(caught.value, LimitExceeded)
    assert not Seat.objects.filter(event=event, label="B-8").exclude(status=Seat.Status.AVAILABLE).exists()
    # Ops and scripts (no owner, no address) meet only the per-buyer limit.
    services.hold_seats(event=event, seat_labels=["B-8", "B-9"], **buyer(9))


def test_per_buyer_limit_counts_live_holds_and_bookings(db):
    event = make_event(max_seats_per_buyer=3)
    held = services.hold_seats(event=event, seat_labels=["A-1", "A-2"], **buyer())
    services.confirm_intent(intent_id=held.intent.id)
    with pytest.raises(LimitExceeded):
        services.hold_seats(event=event, seat_labels=["A-3", "A-4"], **buyer())
    # The same email in another case is the same buyer.
    with pytest.raises(LimitExceeded):
        services.hold_seats(event=event, seat_labels=["A-3", "A-4"], **{**buyer(), "buyer_email": "BUYER1@example.com"})
    assert services.hold_seats(event=event, seat_labels=["A-3"], **buyer()).created


def test_bad_requests_change_nothing(event):
    other = make_event()
    with pytest.raises(UnknownSeats):
        services.hold_seats(event=event, seat_labels=["Z-99"], **buyer())
    with pytest.raises(UnknownSeats):
        services.hold_seats(event=event, seat_labels=["A-1", "E-1"], **buyer())  # E is beyond 4 rows
    with pytest.raises(InvalidRequest):
        services.hold_seats(event=event, seat_labels=[f"A-{n}" for n in range(1, 9)], **buyer())
    with pytest.raises(InvalidRequest):
        services.hold_seats(event=event, seat_labels=[], **buyer())
    assert other.id != event.id
    assert BookingIntent.objects.count() == 0
    assert set(Seat.objects.values_list("version", flat=True)) == {0}


def test_not_on_sale_before_opening(db):
    event = make_event(sale_opens_at=timezone.now() + timedelta(hours=1))
    with pytest.raises(NotOnSale):
        services.hold_seats(event=event, seat_labels=["A-1"], **buyer())


def test_expired_hold_is_free_at_once_without_the_sweeper(event):
    past = timezone.now() - timedelta(minutes=event.hold_minutes + 1)
    old = services.hold_seats(event=event, seat_labels=["A-1"], now=past, **buyer(1)).intent
    # Nobody ran expire_intents: the seat is still HELD in the table, but reads and holds treat it as free.
    assert Seat.objects.get(event=event, label="A-1").status == Seat.Status.HELD
    assert not old.is_active()
    new = services.hold_seats(event=event, seat_labels=["A-1"], **buyer(2)).intent
    seat = Seat.objects.get(event=event, label="A-1")
    assert seat.intent_id == new.id and seat.version == 2


def test_release_frees_seats_and_announces(event, django_capture_on_commit_callbacks):
    heard = []

    def listener(sender, endings, **kwargs):
        heard.extend(endings)

    intent_ended.connect(listener)
    try:
        intent = services.hold_seats(event=event, seat_labels=["C-1", "C-2"], owner="visitor-9", **buyer()).intent
        with django_capture_on_commit_callbacks(execute=True):
            assert services.release_intent(intent_id=intent.id)
    finally:
        intent_ended.disconnect(listener)
    assert [(e.intent_id, e.session_ref, e.status) for e in heard] == [(intent.id, "visitor-9", "RELEASED")]
    assert not services.release_intent(intent_id=intent.id)  # a repeat is harmless
    assert set(Seat.objects.filter(label__in=["C-1", "C-2"], event=event).values_list("status", flat=True)) == {
        Seat.Status.AVAILABLE
    }
    assert BookingIntent.objects.get(pk=intent.id).status == BookingIntent.Status.RELEASED


def test_confirm_is_exactly_once(event):
    intent = services.hold_seats(event=event, seat_labels=["D-1", "D-2"], **buyer()).intent
    booking, created = services.confirm_intent(intent_id=intent.id)
    again, created_again = services.confirm_intent(intent_id=intent.id)
    assert created and not created_again and again.pk == booking.pk
    assert len(booking.reference) == 8
    assert BookedSeat.objects.filter(booking=booking).count() == 2
    assert set(Seat.objects.filter(intent=intent).values_list("status", flat=True)) == {Seat.Status.SOLD}


def test_late_payment_confirms_when_seats_are_still_free(event):
    past = timezone.now() - timedelta(hours=1)
    intent = services.hold_seats(event=event, seat_labels=["A-5"], now=past, **buyer()).intent
    services.expire_intents()
    assert BookingIntent.objects.get(pk=intent.id).status == BookingIntent.Status.EXPIRED
    booking, created = services.confirm_intent(intent_id=intent.id)
    assert created and Seat.objects.get(event=event, label="A-5").status == Seat.Status.SOLD


def test_late_payment_loses_when_a_seat_was_resold(event):
    past = timezone.now() - timedelta(hours=1)
    late = services.hold_seats(event=event, seat_labels=["A-6", "A-7"], now=past, **buyer(1)).intent
    services.hold_seats(event=event, seat_labels=["A-7"], **buyer(2))
    with pytest.raises(SeatsUnavailable):
        services.confirm_intent(intent_id=late.id)
    # Nothing changed: the intent can still be refunded, the other buyer keeps A-7.
    assert BookingIntent.objects.get(pk=late.id).status == BookingIntent.Status.HELD
    assert Seat.objects.get(event=event, label="A-7").intent.buyer_email == "buyer2@example.com"
    assert services.mark_intent_refunded(intent_id=late.id)
    assert BookingIntent.objects.get(pk=late.id).status == BookingIntent.Status.REFUNDED
    with pytest.raises(HoldExpired):
        services.confirm_intent(intent_id=late.id)


def test_extend_hold_only_once(event):
    intent = services.hold_seats(event=event, seat_labels=["B-5"], **buyer()).intent
    extended = services.extend_hold(intent_id=intent.id, minutes=5)
    assert extended == intent.expires_at + timedelta(minutes=5)
    assert services.extend_hold(intent_id=intent.id, minutes=5) == extended
    assert Seat.objects.get(event=event, label="B-5").hold_expires_at == extended


def _expire_query_count(event, count: int) -> tuple[int, int]:
    """Create `count` lapsed holds directly (set-up only), then count the sweeper's queries."""
    past = timezone.now() - timedelta(minutes=30)
    seats = list(Seat.objects.filter(event=event, status=Seat.Status.AVAILABLE).order_by("id")[:count])
    intents = BookingIntent.objects.bulk_create(
        [
            BookingIntent(
                event=event,
                buyer_name="x",
                buyer_email=f"b{i}@example.com",
                buyer_phone="1234567",
                amount_paise=150000,
                expires_at=past,
            )
            for i in range(count)
        ]
    )
    for seat, intent in zip(seats, intents, strict=True):
        seat.status, seat.intent, seat.hold_expires_at = Seat.Status.HELD, intent, past
    Seat.objects.bulk_update(seats, ["status", "intent", "hold_expires_at"], batch_size=2000)
    with CaptureQueriesContext(connection) as queries:
        expired = services.expire_intents()
    return expired, len(queries)


def test_expire_intents_is_set_based(db):
    event = make_event(rows=100, seats_per_row=100)
    small, small_queries = _expire_query_count(event, 10)
    big, big_queries = _expire_query_count(event, 10_000)
    assert (small, big) == (10, 10_000)
    assert big_queries == small_queries <= 8
    assert not Seat.objects.filter(event=event).exclude(status=Seat.Status.AVAILABLE).exists()
    assert BookingIntent.objects.filter(status=BookingIntent.Status.EXPIRED).count() == 10_010
    # Idempotent: a second sweep finds nothing.
    assert services.expire_intents() == 0


def test_expire_intents_leaves_live_holds(event):
    live = services.hold_seats(event=event, seat_labels=["A-1"], **buyer()).intent
    assert services.expire_intents() == 0
    assert BookingIntent.objects.get(pk=live.id).status == BookingIntent.Status.HELD


def test_row_labels():
    assert [services.row_label_for(i) for i in (0, 25, 26, 27, 701)] == ["A", "Z", "AA", "AB", "ZZ"]
