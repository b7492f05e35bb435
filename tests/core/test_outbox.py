"""The outbox: an announcement commits (or rolls back) with its change, reaches every receiver
even when one fails, and is retried for the failing receiver only, until it takes it."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from apps.booking import services as booking_services
from apps.booking.models import BookingIntent
from apps.booking.signals import INTENT_ENDED, IntentEnding, intent_ended
from apps.core import outbox
from apps.core.models import OutboxMessage
from tests.factories import buyer, make_event

pytestmark = pytest.mark.django_db(transaction=True)

ping = Signal()
PING = outbox.Topic("tests.ping", signal=ping, sender="booking.BookingIntent", encode=dict, decode=dict)


class Recorder:
    """A receiver that records its calls and fails while told to."""

    def __init__(self, name: str, failures: int = 0):
        self.calls: list[dict] = []
        self.failures = failures
        self.__qualname__ = name  # outbox.receiver_name() tells receivers apart by qualname

    def __call__(self, signal, sender, **kwargs):
        self.calls.append(kwargs)
        if self.failures:
            self.failures -= 1
            raise ConnectionError("the broker is down")


@pytest.fixture
def receivers():
    good, flaky = Recorder("good"), Recorder("flaky", failures=2)
    ping.connect(good, weak=False, dispatch_uid="good")
    ping.connect(flaky, weak=False, dispatch_uid="flaky")
    yield good, flaky
    ping.disconnect(dispatch_uid="good")
    ping.disconnect(dispatch_uid="flaky")


def test_a_rolled_back_change_announces_nothing(receivers):
    with pytest.raises(RuntimeError), transaction.atomic():
        outbox.announce(PING, n=1)
        raise RuntimeError("the change failed")
    assert not OutboxMessage.objects.exists()
    assert receivers[0].calls == []


def test_committed_announcement_is_delivered_at_once(receivers):
    good, flaky = receivers
    flaky.failures = 0
    with transaction.atomic():
        message = outbox.announce(PING, n=1)
        assert good.calls == []  # not before the commit
    assert good.calls == [{"n": 1}] and flaky.calls == [{"n": 1}]
    message.refresh_from_db()
    assert message.delivered_at is not None and message.attempts == 1 and message.last_error == ""


def test_a_failing_receiver_is_retried_alone_with_backoff_until_it_takes_it(receivers, settings):
    good, flaky = receivers
    with transaction.atomic():
        message = outbox.announce(PING, n=2)
    assert good.calls == [{"n": 2}] and len(flaky.calls) == 1  # one failure silences nobody
    message.refresh_from_db()
    assert message.delivered_at is None and "ConnectionError" in message.last_error
    assert message.done == [f"{__name__}.good"]
    assert message.due_at > timezone.now()  # backed off
    assert outbox.relay() == 0  # not due yet

    later = timezone.now() + timedelta(seconds=settings.OUTBOX_RETRY_BACKOFF_MAX + 1)
    assert outbox.relay(now=later) == 0  # the flaky receiver fails a second time
    even_later = later + timedelta(seconds=settings.OUTBOX_RETRY_BACKOFF_MAX + 1)
    assert outbox.relay(now=even_later) == 1
    message.refresh_from_db()
    assert message.delivered_at is not None and message.attempts == 3
    assert len(good.calls) == 1 and len(flaky.calls) == 3  # the good receiver never had a repeat


def test_a_claimed_message_is_not_delivered_twice(receivers):
    good, flaky = receivers
    flaky.failures = 0
    message = OutboxMessage.objects.create(topic=PING.name, payload={"n": 3}, due_at=timezone.now())
    now = timezone.now()
    # Another relay claims it (one UPDATE) and dies before delivering: it is not due until the lease ends.
    OutboxMessage.objects.filter(pk=message.pk).update(due_at=now + timedelta(seconds=60))
    assert not outbox.deliver(message_id=message.pk, now=now)
    assert good.calls == []
    assert outbox.deliver(message_id=message.pk, now=now + timedelta(seconds=61))
    assert not outbox.deliver(message_id=message.pk, now=now + timedelta(seconds=3600))  # delivered: never again
    assert len(good.calls) == 1


def test_an_unknown_topic_waits_for_a_process_that_knows_it():
    message = OutboxMessage.objects.create(topic="nobody.knows", payload={}, due_at=timezone.now())
    assert not outbox.deliver(message_id=message.pk)
    message.refresh_from_db()
    assert message.delivered_at is None and "unknown topic" in message.last_error


def test_intent_endings_travel_as_json_and_back():
    ending = IntentEnding(BookingIntent().id, 7, "visitor-1", BookingIntent.Status.CONFIRMED)
    assert INTENT_ENDED.decode(INTENT_ENDED.encode(endings=[ending])) == {"endings": [ending]}


def test_the_booking_core_writes_its_endings_in_the_same_transaction():
    """A confirm that rolls back leaves no announcement; one that commits leaves exactly one, and
    its retry (created=False) adds none: the first one is what gets delivered."""
    heard = []

    def listener(sender, endings, **kwargs):
        heard.extend(endings)

    intent_ended.connect(listener, weak=False, dispatch_uid="test-listener")
    try:
        event = make_event()
        intent = booking_services.hold_seats(event=event, seat_labels=["A-1"], **buyer()).intent
        assert not OutboxMessage.objects.exists()  # a hold writes no outbox row (the hot path)
        booking, created = booking_services.confirm_intent(intent_id=intent.id)
        assert created and OutboxMessage.objects.count() == 1
        assert booking_services.confirm_intent(intent_id=intent.id)[1] is False
        assert OutboxMessage.objects.count() == 1
        assert [e.intent_id for e in heard] == [intent.id]
        assert OutboxMessage.objects.get().delivered_at is not None
    finally:
        intent_ended.disconnect(dispatch_uid="test-listener")
