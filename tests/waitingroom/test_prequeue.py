"""The pre-queue: early arrivals shuffled at the opening, auditable from the revealed seed."""

import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from apps.waitingroom import prequeue, queue, services
from apps.waitingroom.contract import RoomKeys
from tests.factories import make_event
from tests.waitingroom.conftest import open_room


def _opening(conn, opens_in_seconds=60, early=40, late=5):
    event = make_event(sale_opens_at=timezone.now() + timedelta(seconds=opens_in_seconds))
    config = open_room(event, capacity=1000, rate_per_minute=100_000)
    opens_ms = int(event.sale_opens_at.timestamp() * 1000)
    early_visitors = [f"early-{i}" for i in range(early)]
    for i, visitor in enumerate(early_visitors):
        assert queue.join(conn, event.id, visitor, opens_ms - 30_000 + i).where == "early"
    # Before the opening, nobody is admitted, and the page shows the seed's hash only.
    status = services.poll_status(event_id=event.id, visitor_id="early-0", ip="1.1.1.1", at_ms=opens_ms - 1000)
    assert status.state == "waiting" and status.prequeue and status.position is None
    assert status.seed_hash == prequeue.seed_hash(config.seed) and status.seed == ""
    assert queue.admit(conn, event.id, opens_ms - 500).reason == "not_open"
    # The opening, then later arrivals.
    order = services.open_prequeue(event_id=event.id, seed=config.seed)
    late_visitors = [f"late-{i}" for i in range(late)]
    for i, visitor in enumerate(late_visitors):
        queue.join(conn, event.id, visitor, opens_ms + 1000 + i)
    line = [v.decode() for v in conn.zrange(RoomKeys.of(event.id).line, 0, -1)]
    return event, config, order, early_visitors, late_visitors, line, opens_ms


@pytest.mark.django_db
def test_opening_order_is_a_permutation_differing_between_runs_and_late_arrivals_queue_behind(conn):
    _, _, order1, early, late, line1, _ = _opening(conn)
    assert sorted(line1[: len(early)]) == sorted(early)  # a permutation of the early arrivals
    assert line1[len(early) :] == late  # later arrivals in arrival order, behind them
    assert order1 == [prequeue.ticket(v) for v in line1[: len(early)]]
    _, _, order2, _, _, line2, _ = _opening(conn)
    assert line1[: len(early)] != early  # shuffled, not arrival order
    assert line2[: len(early)] != line1[: len(early)]  # another seed, another order


@pytest.mark.django_db
def test_seed_is_revealed_after_opening_and_the_audit_command_reproduces_the_order(conn, tmp_path, capsys):
    event, config, order, early, _, line, opens_ms = _opening(conn)
    status = services.poll_status(event_id=event.id, visitor_id=line[0], ip="1.1.1.1", at_ms=opens_ms + 2000)
    assert status.seed == config.seed
    assert prequeue.seed_hash(status.seed) == status.seed_hash  # the published hash matches

    # Anyone with the published arrival list and the seed:
    record = json.loads(conn.get(RoomKeys.of(event.id).audit))
    assert record["arrivals"] == [prequeue.ticket(v) for v in early]  # arrival order
    arrivals = tmp_path / "arrivals.txt"
    arrivals.write_text("\n".join(record["arrivals"]) + "\n")
    call_command("audit_prequeue", seed=status.seed, arrivals=str(arrivals), seed_hash=status.seed_hash)
    printed = [line.split("\t")[1] for line in capsys.readouterr().out.splitlines() if "\t" in line]
    assert printed == order
    # Ops: against the recorded opening.
    call_command("audit_prequeue", event=event.slug)
    assert "OK: the recorded order of 40 is reproduced" in capsys.readouterr().out


@pytest.mark.django_db
def test_first_poll_after_opening_shuffles_when_beat_is_down(conn):
    event = make_event(sale_opens_at=timezone.now() + timedelta(seconds=30))
    open_room(event, capacity=2, rate_per_minute=100_000)
    opens_ms = int(event.sale_opens_at.timestamp() * 1000)
    for i in range(5):
        queue.join(conn, event.id, f"e{i}", opens_ms - 10_000)
    status = services.poll_status(event_id=event.id, visitor_id="e3", ip="1.1.1.1", at_ms=opens_ms + 100)
    assert conn.hget(RoomKeys.of(event.id).state, "shuffled") == b"1"
    assert status.state in ("waiting", "admitted")
    assert conn.zcard(RoomKeys.of(event.id).line) + conn.zcard(RoomKeys.of(event.id).inside) == 5
