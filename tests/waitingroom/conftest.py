import itertools
import time

import pytest

from apps.waitingroom import queue, services
from apps.waitingroom.contract import RoomKeys

_ids = itertools.count(900_001)


def set_room(event_id: int, **fields) -> None:
    """A room straight in Redis (no database row): for the queue-level tests."""
    cfg = {
        "mode": "always",
        "capacity": 100,
        "rate": 6000,
        "session_s": 600,
        "grace_s": 120,
        "paused": 0,
        "closed": 0,
        "opens_ms": 0,
        "slug": f"e{event_id}",
        "name": f"Event {event_id}",
        "seed_hash": "",
        "tz": "Asia/Kolkata",
    }
    cfg.update(fields)
    queue.client().hset(RoomKeys.of(event_id).cfg, mapping=cfg)


def open_room(event, **changes):
    """Turn an event's room on (database + mirror now: on_commit never fires inside a test transaction)."""
    config = services.update_config(event=event, **{"mode": "always", **changes})
    services.mirror_config(config=config)
    return config


@pytest.fixture
def room_id():
    return next(_ids)


@pytest.fixture
def conn():
    return queue.client()


@pytest.fixture
def t0():
    return int(time.time() * 1000)
