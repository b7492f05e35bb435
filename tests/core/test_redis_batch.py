"""A hold's after-commit Redis writes (the inventory generation, the gate's pin) are one round
trip, on the real Redis; and a batch that cannot reach Redis loses its soft writes, not the hold."""

import pytest
import redis
from redis.connection import AbstractConnection

from apps.booking import inventory, services
from apps.core import redis_batch
from apps.waitingroom import queue
from apps.waitingroom import services as room
from tests.factories import buyer

pytestmark = pytest.mark.django_db


@pytest.fixture
def round_trips(monkeypatch):
    """How many times a Redis client of this process sent something (a command or a pipeline)."""
    sent = []
    original = AbstractConnection.send_packed_command

    def counted(self, command, check_health=True):
        sent.append(command)
        return original(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counted)
    return sent


def test_a_hold_sends_its_after_commit_writes_in_one_round_trip(event, round_trips, django_capture_on_commit_callbacks):
    generation_before = int(inventory.redis().get(inventory.generation_key(event.id)) or 0)
    round_trips.clear()

    with django_capture_on_commit_callbacks(execute=True):
        result = services.hold_seats(event=event, seat_labels=["A-1"], owner="visitor-1", **buyer(1))

    assert len(round_trips) == 1
    # Both writes are in it: the inventory moved on, and the gate knows whose hold this is.
    assert int(inventory.redis().get(inventory.generation_key(event.id))) == generation_before + 1
    assert queue.client().get(queue.intent_key(str(result.intent.id))) == f"{event.id}|visitor-1".encode()


def test_control_the_same_writes_unbatched_are_two_round_trips(event, round_trips):
    """The counter sees the difference the batch makes."""
    inventory.bump(event.id)
    room.record_hold(event_id=event.id, visitor_id="visitor-2", intent_id="intent-2")

    assert len(round_trips) == 2


def test_a_batch_that_cannot_reach_redis_logs_and_raises_nothing(caplog):
    nowhere = redis.Redis(host="127.0.0.1", port=9, socket_connect_timeout=0.5)  # nothing listens

    with redis_batch.batched("a test change"):
        with redis_batch.pipeline(nowhere) as pipe:
            pipe.incr("wr:{0}:never")

    assert "Redis writes after a test change were lost" in caplog.text


def test_outside_a_batch_the_writer_sees_its_error():
    nowhere = redis.Redis(host="127.0.0.1", port=9, socket_connect_timeout=0.5)

    with pytest.raises(redis.exceptions.ConnectionError):
        with redis_batch.pipeline(nowhere) as pipe:
            pipe.incr("wr:{0}:never")
