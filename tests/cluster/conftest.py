"""A Redis Cluster on loopback: six redis-server processes with the module
(tests/conftest.py's Server), made into three masters with one replica each
by `redis-cli --cluster create`. `make test-cluster` runs this directory;
`make test` does not collect it (pyproject: norecursedirs)."""
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from redis.cluster import RedisCluster
from redis.crc import key_slot

from conftest import Server, free_port, wait_info, wait_until

NODES, REPLICAS = 6, 1
NODE_TIMEOUT_MS = 3000      # short, so that a failover takes seconds
START_TIMEOUT = 180         # six servers importing torch and onnxruntime on a loaded box
# Imported at load, before the cluster forms, rather than by each node's first
# model (a master's store, a replica's replicated one): seconds each, on a
# loaded box more than a command's timeout.
BACKENDS = ("TORCH", "redisai_torch/redisai_torch.so",
            "ONNX", "redisai_onnxruntime/redisai_onnxruntime.so")


class Node(Server):
    """A cluster node: cluster mode, its own free bus port (the default, port
    + 10000, overflows for ports above 55535)."""

    def __init__(self, workdir):
        self.bus_port = free_port()
        super().__init__(workdir, BACKENDS, config=(
            "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
            "--cluster-port", self.bus_port, "--cluster-node-timeout", NODE_TIMEOUT_MS,
            # a replica promotes however long its link was down
            "--cluster-replica-validity-factor", 0,
            "--repl-diskless-sync-delay", 0))

    def client(self, **kwargs):
        # A node answers its first PING once the frameworks are imported.
        kwargs.setdefault("socket_timeout", START_TIMEOUT)
        return super().client(**kwargs)

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


class Cluster:
    """The six nodes, and what they say of each other (CLUSTER NODES)."""
    node_timeout_ms = NODE_TIMEOUT_MS

    def __init__(self, workdir):
        self.nodes = [Node(workdir / f"node{i}") for i in range(NODES)]

    def start(self):
        with ThreadPoolExecutor(NODES) as pool:
            list(pool.map(lambda node: node.start(timeout=START_TIMEOUT), self.nodes))
        create = subprocess.run(["redis-cli", "--cluster", "create",
                                 *[n.address for n in self.nodes],
                                 "--cluster-replicas", str(REPLICAS), "--cluster-yes"],
                                capture_output=True, text=True, timeout=START_TIMEOUT)
        assert create.returncode == 0, create.stdout + create.stderr
        self.wait_healthy()

    def stop(self):
        for node in self.nodes:
            if node.alive():
                node.proc.kill()
                node.proc.wait()

    def by_address(self, address):
        return next(n for n in self.nodes if n.address == address)

    def cluster_nodes(self, seen_by=None):
        """CLUSTER NODES of a live node: (node, its master or None, slot
        ranges) for each node it does not flag as failed."""
        seen_by = seen_by or next(n for n in self.nodes if n.alive())
        entries = seen_by.client().execute_command("CLUSTER NODES")
        by_id = {e["node_id"]: self.by_address(address) for address, e in entries.items()}
        return [(by_id[e["node_id"]], by_id.get(e["master_id"]),
                 [(int(r[0]), int(r[-1])) for r in e["slots"]])
                for e in entries.values() if "fail" not in e["flags"].split(",")]

    def masters(self):
        return [node for node, master, _ in self.cluster_nodes() if master is None]

    def replica_of(self, master):
        return next(node for node, of, _ in self.cluster_nodes() if of is master)

    def master_of(self, key):
        """The master serving key's slot."""
        slot = key_slot(key.encode())
        return next(node for node, _, ranges in self.cluster_nodes()
                    if any(lo <= slot <= hi for lo, hi in ranges))

    def kill(self, master):
        """SIGKILLs master; returns its replica once promoted, and the seconds
        from the kill to the promotion."""
        heir = self.replica_of(master)
        started = time.monotonic()
        master.proc.kill()
        master.proc.wait()
        wait_until(lambda: heir.client().info("replication")["role"] == "master",
                   f"the promotion of {heir.address}")
        return heir, time.monotonic() - started

    def wait_healthy(self):
        """Until every live node says cluster_state:ok and sees the same
        masters, and every replica's link to its master is up."""
        def masters_seen_by(node):
            return {n.address for n, master, _ in self.cluster_nodes(node) if master is None}

        def healthy():
            live = [n for n in self.nodes if n.alive()]
            return (all(b"cluster_state:ok" in n.client().execute_command("CLUSTER", "INFO")
                        for n in live)
                    and len({frozenset(masters_seen_by(n)) for n in live}) == 1)
        wait_until(healthy, "cluster_state:ok on every node", timeout=START_TIMEOUT)
        for node, master, _ in self.cluster_nodes():
            if master is not None:
                wait_info(node.client(), "replication", master_link_status="up",
                          master_sync_in_progress=0)

    def client(self):
        """A cluster-aware client (redis-py's RedisCluster), RESP2 like the
        tests' other clients."""
        node = next(n for n in self.nodes if n.alive())
        return RedisCluster(host="127.0.0.1", port=node.port, protocol=2, socket_timeout=60)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    cluster = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def rc(cluster):
    client = cluster.client()
    yield client
    client.close()
