"""The waiting room on a real Redis Cluster (3 masters with a replica each, Debian's redis-server,
devstack.redis_cluster): the same scripts and services, unchanged, through redis-py's cluster
client once REDIS_CLUSTER_NODES is set. Twenty events on different shards each keep their own
capacity and order; the whole buyer journey through the gate; and a master killed mid-line."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from django.test import Client
from django_redis import get_redis_connection
from redis.cluster import RedisCluster
from redis.exceptions import RedisClusterException

from apps.booking import services as booking_services
from apps.core.middleware import DEPENDENCY_ERRORS
from apps.waitingroom import queue, tokens
from apps.waitingroom.contract import RoomKeys
from devstack.redis_cluster import RedisClusterProcesses
from tests.factories import buyer, make_event, seat_list_url
from tests.waitingroom.conftest import open_room, set_room

CAPACITY = 7


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with RedisClusterProcesses(tmp_path_factory.mktemp("redis-cluster")) as running:
        yield running


@pytest.fixture
def room_cluster(cluster, settings):
    """The room's client on the cluster (the cache stays on the standalone test Redis)."""
    settings.REDIS_CLUSTER_NODES = cluster.startup_nodes.split(",")
    conn = queue.client()
    conn.flushall()  # every master
    yield conn
    queue._cluster.cache_clear()


def shard_of(cluster: RedisClusterProcesses, event_id: int) -> int:
    return cluster.master_of(RoomKeys.of(event_id).line).port


def test_twenty_events_on_different_shards_each_keep_their_capacity_and_order(cluster, room_cluster):
    assert isinstance(room_cluster, RedisCluster)
    events = list(range(930_001, 930_021))
    assert len({shard_of(cluster, e) for e in events}) == 3  # the lines are spread over every master
    for event_id in events:
        set_room(event_id, capacity=CAPACITY, rate=100_000)

    def drop(event_id: int) -> tuple[int, list[str], list[str], int]:
        """60 people join one event's line from 6 threads at once; then admissions run."""

        def join(i: int):
            return f"e{event_id}-v{i:02d}", queue.join(queue.client(), event_id, f"e{event_id}-v{i:02d}", queue_ms())

        with ThreadPoolExecutor(max_workers=6) as pool:
            joined = dict(pool.map(join, range(60)))
        by_place = sorted(joined, key=lambda v: joined[v].position)
        admitted = []
        for _ in range(5):
            admitted += queue.admit(queue.client(), event_id, queue_ms()).admitted
        inside = queue.client().zcard(RoomKeys.of(event_id).inside)
        return event_id, by_place, admitted, inside

    with ThreadPoolExecutor(max_workers=20) as pool:  # all twenty drops at the same time
        results = list(pool.map(drop, events))
    for event_id, by_place, admitted, inside in results:
        assert sorted(queue.client().zrange(RoomKeys.of(event_id).line, 0, -1)) == sorted(
            v.encode() for v in by_place[CAPACITY:]
        )
        assert inside == CAPACITY, event_id  # its own capacity, whatever the other nineteen did
        assert admitted == by_place[:CAPACITY]  # the head of its own line, in order
    # Nothing of the line reached the standalone Redis the cache uses.
    assert not get_redis_connection("default").keys("wr:*")


def queue_ms() -> int:
    return int(time.time() * 1000)


@pytest.mark.django_db
def test_a_buyer_goes_through_the_gate_with_the_room_on_the_cluster(room_cluster, django_capture_on_commit_callbacks):
    event = make_event()
    open_room(event, capacity=1, rate_per_minute=600)
    seats, seat_list = f"/events/{event.slug}/seats/", seat_list_url(event)
    asha, ravi = Client(), Client()
    for client in (asha, ravi):
        assert client.get(seat_list).status_code == 302  # the gate looked the slug up on the cluster
    assert asha.get(f"/queue/{event.slug}/status?next={seats}").json()["state"] == "admitted"
    assert ravi.get(f"/queue/{event.slug}/status?next={seats}").json()["state"] == "waiting"
    assert asha.get(seat_list).status_code == 200 and ravi.get(seat_list).status_code == 302

    details = buyer(1)
    form = {"name": details["buyer_name"], "email": details["buyer_email"], "phone": details["buyer_phone"]}
    with django_capture_on_commit_callbacks(execute=True):  # the hold is announced; the room records its owner
        held = asha.post(f"/events/{event.slug}/hold/", {"seat": ["A-1"], **form})
    assert held.status_code == 303
    checkout = held["Location"]
    intent_id = checkout.strip("/").split("/")[-1]
    assert room_cluster.get(queue.intent_key(intent_id)) is not None  # wr:intent:{<uuid>}, on its own slot
    assert ravi.get(checkout).status_code == 302  # a stranger is sent to the line

    with django_capture_on_commit_callbacks(execute=True):
        booking_services.release_intent(intent_id=intent_id)  # the slot is freed on the cluster at once
    visitor = tokens.visitor_id_of(asha.cookies[tokens.VISITOR_COOKIE].value)
    assert room_cluster.zscore(RoomKeys.of(event.id).inside, visitor) is None
    deadline = time.monotonic() + 5  # the next poll's admission (one per poll interval) lets Ravi in
    while ravi.get(f"/queue/{event.slug}/status?next={seats}").json()["state"] != "admitted":
        assert time.monotonic() < deadline, "the freed slot never went to the next in line"
        time.sleep(0.2)
    assert ravi.get(seat_list).status_code == 200
    assert not get_redis_connection("default").keys("wr:*")


def test_a_master_killed_mid_line_pauses_that_line_and_loses_no_place(tmp_path, settings):
    """Its replica takes over (after the cluster's node timeout); meanwhile that event's scripts fail
    with a dependency error (the views answer 503 with Retry-After), and afterwards every place is
    where it was and admissions never pass the capacity. The bound: Redis replicates asynchronously,
    so what a master acknowledged in the last moment before it died (its replication lag, well under
    a millisecond on a LAN) can be lost; a visitor whose join was lost joins again, at the end, on
    the next poll, and an admission lost that way lets one more in (docs/scale-out.md)."""
    with RedisClusterProcesses(tmp_path / "cluster") as cluster:
        settings.REDIS_CLUSTER_NODES = cluster.startup_nodes.split(",")
        conn = queue.client()
        event_id, other = (
            940_001,
            next(e for e in range(940_002, 940_100) if shard_of(cluster, e) != shard_of(cluster, 940_001)),
        )
        for e in (event_id, other):
            set_room(e, capacity=5, rate=100_000, session_s=3600, grace_s=3600)
            for i in range(40):
                queue.join(conn, e, f"v{i:02d}", queue_ms() + i)
            assert len(queue.admit(conn, e, queue_ms()).admitted) == 5
        places = {f"v{i:02d}": queue.status(conn, event_id, f"v{i:02d}", queue_ms()).position for i in range(5, 40)}
        for e in (event_id, other):  # the replicas have what was acknowledged (asynchronous replication)
            master = conn.get_node_from_key(RoomKeys.of(e).line)
            assert conn.execute_command("WAIT", 1, 10_000, target_nodes=master) >= 1, "no replica caught up"

        killed = cluster.kill_master_of(RoomKeys.of(event_id).line)
        began, failed = time.monotonic(), 0
        while True:  # the line pauses: polls fail as a dependency outage, then the replica answers
            try:
                queue.status(conn, event_id, "v10", queue_ms())
                break
            except DEPENDENCY_ERRORS + (redis.RedisError,) as error:
                assert isinstance(error, DEPENDENCY_ERRORS), repr(error)
                failed += 1
                time.sleep(0.2)
            assert time.monotonic() - began < 30, "the replica never took over"
        paused_s = time.monotonic() - began
        print(f"master :{killed.port} killed; the line answered again after {paused_s:.1f} s ({failed} failed polls)")
        assert failed >= 1  # it really was down for a while

        assert {v: queue.status(conn, event_id, v, queue_ms()).position for v in places} == places
        assert conn.zcard(RoomKeys.of(event_id).inside) == 5
        assert queue.admit(conn, event_id, queue_ms()).admitted == []  # full: nobody past the capacity
        assert queue.leave(conn, event_id, ["v00", "v01"]) == 2
        assert queue.admit(conn, event_id, queue_ms()).admitted == ["v05", "v06"]  # the line goes on, in order
        # The other event's shard never stopped.
        assert conn.zcard(RoomKeys.of(other).inside) == 5 and conn.zcard(RoomKeys.of(other).line) == 35
    queue._cluster.cache_clear()


def test_control_a_key_layout_without_the_hash_tag_is_refused_by_the_cluster(room_cluster):
    """The harness catches a layout breach: the same join script with the event's keys untagged
    (`wr:E:line` instead of `wr:{E}:line`) spreads them over slots, and the cluster refuses it."""
    tagged = RoomKeys(950_001)
    untagged = tuple(key.replace("{950001}", "950001") for key in tagged.queue_keys)
    assert len({room_cluster.keyslot(k) for k in tagged.queue_keys}) == 1
    assert len({room_cluster.keyslot(k) for k in untagged}) > 1
    set_room(950_001)
    with pytest.raises(RedisClusterException, match="same key slot"):
        queue.SCRIPTS.join(keys=untagged, args=["v1", queue_ms(), "1"], client=room_cluster)
