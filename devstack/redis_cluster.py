"""A Redis Cluster on loopback, from Debian's redis-server and redis-cli: masters with a replica
each, made by `redis-cli --cluster create`, as on separate machines (one node per machine there,
one process per node here). For the waiting room on a cluster (docs/scale-out.md), its tests and
scripts/cluster.sh."""

import signal
import subprocess
import time
from pathlib import Path

import redis
from redis.cluster import RedisCluster

from devstack.ports import free_port
from devstack.waits import wait_for

REDIS_SERVER = "redis-server"
REDIS_CLI = "redis-cli"
# How long a master may be silent before its replica takes over: short on loopback, so a fault
# test sees the failover in seconds (production keeps Redis' 15 s default or tunes it to its network).
NODE_TIMEOUT_MS = 1500


class ClusterNode:
    def __init__(self, data_dir: Path, port: int, bus_port: int):
        self.port, self.bus_port, self.data_dir = port, bus_port, data_dir
        self.proc: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [
            REDIS_SERVER,
            "--port", str(self.port),
            "--cluster-port", str(self.bus_port),
            "--bind", "127.0.0.1",
            "--dir", str(self.data_dir),
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--maxmemory-policy", "noeviction",
            "--repl-diskless-sync-delay", "0",  # a new replica syncs at once, not 5 s later
            "--daemonize", "no",
            "--logfile", str(self.data_dir / "redis.log"),
        ]  # fmt: skip

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)

    def client(self, timeout: float = 1) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=timeout, socket_connect_timeout=timeout)

    def answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def replication(self) -> dict:
        try:
            return self.client().info("replication")
        except redis.RedisError:
            return {}

    def cluster_state(self) -> str:
        """This node's view: "ok", "fail", or "" when it does not answer."""
        try:
            text = self.client().execute_command("CLUSTER", "INFO")
        except redis.RedisError:
            return ""
        text = text.decode() if isinstance(text, bytes) else str(text)
        for line in text.splitlines():
            if line.startswith("cluster_state:"):
                return line.split(":", 1)[1].strip()
        return ""

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: as a machine that dies."""
        if self.running():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.running():
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


class RedisClusterProcesses:
    """`masters` masters and `replicas` replicas of each, every node on its own free port."""

    def __init__(self, data_dir: Path, *, masters: int = 3, replicas: int = 1):
        self.masters, self.replicas = masters, replicas
        self.nodes = [
            ClusterNode(data_dir / f"node-{i}", free_port(), free_port()) for i in range(masters * (1 + replicas))
        ]

    @property
    def startup_nodes(self) -> str:
        """REDIS_CLUSTER_NODES: every node, so a client can start while any of them is down."""
        return ",".join(node.address for node in self.nodes)

    def start(self, timeout: float = 60) -> "RedisClusterProcesses":
        for node in self.nodes:
            node.start()
        for node in self.nodes:
            wait_for(node.answers, timeout=timeout, what=f"redis node {node.port}")
        subprocess.run(
            [REDIS_CLI, "--cluster", "create", *(n.address for n in self.nodes)]
            + ["--cluster-replicas", str(self.replicas), "--cluster-yes"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            timeout=timeout,
        )
        self.wait_healthy(timeout)
        self.wait_replicated(timeout)
        return self

    def wait_replicated(self, timeout: float = 60) -> None:
        """Every replica has synced with its master: a replica that never synced may not take over."""

        def synced() -> bool:
            roles = [n.replication() for n in self.nodes if n.running()]
            replicas = [r for r in roles if r.get("role") == "slave"]
            return len(replicas) >= self.masters * self.replicas - self.dead() and all(
                r.get("master_link_status") == "up" for r in replicas
            )

        wait_for(synced, timeout=timeout, interval=0.2, what="the replicas to sync")

    def dead(self) -> int:
        return sum(not n.running() for n in self.nodes)

    def wait_healthy(self, timeout: float = 60) -> None:
        """Every live node sees the cluster ok and every slot served by a live master."""

        def healthy() -> bool:
            live = [n for n in self.nodes if n.running()]
            if not all(n.cluster_state() == "ok" for n in live):
                return False
            try:
                slots = live[0].client().cluster("slots")
            except redis.RedisError:
                return False
            live_ports = {n.port for n in live}
            return sum(end - start + 1 for start, end, *_ in slots) == 16384 and all(
                int(master[1]) in live_ports for _, _, master, *_ in slots
            )

        wait_for(healthy, timeout=timeout, interval=0.2, what="the Redis Cluster to be ok")

    def client(self) -> RedisCluster:
        return RedisCluster.from_url(f"redis://{self.nodes[0].address}/0")

    def master_of(self, key: str) -> ClusterNode:
        """The node serving `key`'s slot now."""
        node = self.client().get_node_from_key(key)
        return next(n for n in self.nodes if n.port == int(node.port))

    def kill_master_of(self, key: str) -> ClusterNode:
        """SIGKILL the master of `key`'s slot; returns it (its replica takes over after
        NODE_TIMEOUT_MS; wait_healthy waits for that)."""
        master = self.master_of(key)
        master.kill()
        return master

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> "RedisClusterProcesses":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def failover_seconds(cluster: RedisClusterProcesses, key: str) -> float:
    """Kill the master of `key` and wait until its slot is served again: the pause a line on that
    shard sees."""
    began = time.monotonic()
    cluster.kill_master_of(key)
    cluster.wait_healthy()
    return time.monotonic() - began
