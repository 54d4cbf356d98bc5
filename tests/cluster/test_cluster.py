"""Redis Cluster with the module (persistence-replication-cluster.md "Redis
Cluster", dag.md "Key positions"): the fraud-detection pipeline of test_dag.py
run per user from a cluster-aware client (redis-py's RedisCluster), each user's
model, script and tensors sharing the user's hash tag; keyless commands answered
by the node that receives them; CROSSSLOT and MOVED replied exactly as core
Redis replies them; and a master killed with SIGKILL, whose replica takes over
with every WAIT-acknowledged tensor, model and script and runs them.

Every result is compared with the frameworks run in this process. The
failover test is the last: it leaves the cluster one node short."""

import numpy as np
import pytest
from redis.crc import key_slot
from redis.exceptions import ResponseError

import models
from models import info, tensorget, tensorset
from test_dag import Fraud, close, dag, m_exec, s_exec, t_get, t_set, values
from test_tensor import wire_error

pytestmark = models.IGNORE_TORCH_JIT_DEPRECATION

USERS_PER_MASTER = 2
WAIT_MS = 60000             # WAIT's timeout: it returns as soon as the replica acknowledges


@pytest.fixture(scope="module")
def fraud():
    return Fraud()


def tags(cluster, prefix, per_master=USERS_PER_MASTER):
    """{master: [hash tags whose slot it serves]}, per_master for each master:
    a user's keys are `model{u}`, `pre{u}`, `ref{u}` ... with u such a tag."""
    found = {master: [] for master in cluster.masters()}
    i = 0
    while any(len(t) < per_master for t in found.values()):
        tag = f"{prefix}{i}"
        owner = cluster.master_of(f"{{{tag}}}")
        if len(found[owner]) < per_master:
            found[owner].append(tag)
        i += 1
    return found


def scored(client, fraud, u, ref, rng):
    """One transaction of user u through the fraud DAG (LOAD ref{u}, which
    holds ref; PERSIST score{u}); checks the reply and the persisted score
    against the framework."""
    tx = Fraud.transaction(rng)
    reply = Fraud.dag(client, u, tx, f"ref{{{u}}}", f"score{{{u}}}")
    assert reply[:3] == [b"OK", b"OK", b"OK"] and len(reply) == 4, reply
    expected = fraud.score(tx, ref)
    close(values(reply[3], (1, 1)), expected)
    close(tensorget(client, f"score{{{u}}}"), expected)


def set_up_user(client, fraud, u, rng):
    """model{u}, pre{u} and ref{u}; returns what ref{u} holds."""
    fraud.setup(client, u)
    ref = Fraud.reference_data(rng)
    tensorset(client, f"ref{{{u}}}", ref)
    return ref


def test_three_masters_each_with_one_replica_cover_every_slot(cluster):
    masters = cluster.masters()
    assert len(masters) == 3
    assert {cluster.replica_of(m) for m in masters} == set(cluster.nodes) - set(masters)
    slots = sorted(r for node, _, ranges in cluster.cluster_nodes() for r in ranges)
    assert slots[0][0] == 0 and slots[-1][1] == 16383
    assert all(a[1] + 1 == b[0] for a, b in zip(slots, slots[1:]))


def test_fraud_workload_from_a_cluster_client(cluster, rc, fraud):
    users = tags(cluster, "user")
    rng = np.random.default_rng(11)
    for u in sum(users.values(), []):
        ref = set_up_user(rc, fraud, u, rng)
        for _ in range(3):
            scored(rc, fraud, u, ref, rng)
        # The pipeline in single commands: its keys carry the tag, its names too.
        tx = Fraud.transaction(rng)
        tensorset(rc, f"tx{{{u}}}", tx)
        assert rc.execute_command(*s_exec(f"pre{{{u}}}", "pre", [f"tx{{{u}}}", f"ref{{{u}}}"],
                                          [f"feat{{{u}}}"])) == b"OK"
        assert rc.execute_command(*m_exec(f"model{{{u}}}", [f"feat{{{u}}}"],
                                          [f"out{{{u}}}"])) == b"OK"
        close(tensorget(rc, f"out{{{u}}}"), fraud.score(tx, ref))
        # A DAG of local tensors only, routed by its tag.
        reply = dag(rc, ("ROUTING", f"{{{u}}}"), t_set("tx", tx), t_set("ref", ref),
                    s_exec(f"pre{{{u}}}", "pre", ["tx", "ref"], ["feat"]),
                    m_exec(f"model{{{u}}}", ["feat"], ["s"]), t_get("s", "VALUES"))
        close(values(reply[-1], (1, 1)), fraud.score(tx, ref))
    # Each user's keys are on the master serving its tag, and only there.
    for master, on_it in users.items():
        keys = {k.decode() for k in master.client().keys("*")}
        for u in sum(users.values(), []):
            mine = {f"{name}{{{u}}}" for name in ("model", "pre", "ref", "score", "tx", "feat",
                                                  "out")}
            assert mine <= keys if u in on_it else not mine & keys
        for u in on_it:
            assert info(master.client(), f"model{{{u}}}")["calls"] == 5


def test_keyless_commands_are_answered_by_the_node_that_receives_them(cluster, rc, fraud):
    users = tags(cluster, "scan")
    rng = np.random.default_rng(12)
    for u in sum(users.values(), []):
        set_up_user(rc, fraud, u, rng)
    primaries = rc.get_primaries()
    scans = rc.execute_command("AI._MODELSCAN", target_nodes=primaries)
    scripts = rc.execute_command("AI._SCRIPTSCAN", target_nodes=primaries)
    for master, on_it in users.items():
        models_here = {key.decode() for key, _ in scans[master.address]}
        scripts_here = {key.decode() for key, _ in scripts[master.address]}
        for u in sum(users.values(), []):
            assert (f"model{{{u}}}" in models_here) == (u in on_it)
            assert (f"pre{{{u}}}" in scripts_here) == (u in on_it)
    # AI.CONFIG changes the node it is sent to, and no other.
    first, *others = cluster.masters()
    size = models.DEFAULT_CHUNK_SIZE // 2
    target = rc.get_node(host="127.0.0.1", port=first.port)
    assert rc.execute_command("AI.CONFIG", "MODEL_CHUNK_SIZE", size, target_nodes=target) == b"OK"
    try:
        chunk = rc.execute_command("AI.CONFIG", "GET", "MODEL_CHUNK_SIZE", target_nodes=primaries)
        assert chunk == {first.address: size,
                         **{n.address: models.DEFAULT_CHUNK_SIZE for n in others}}
    finally:
        rc.execute_command("AI.CONFIG", "MODEL_CHUNK_SIZE", models.DEFAULT_CHUNK_SIZE,
                           target_nodes=target)


def refusal(client, *argv):
    """The error a command gets: its class says which error code redis-py
    parsed (MOVED, CROSSSLOT, ...), its text is the rest of the line."""
    with pytest.raises(ResponseError) as exc:
        client.execute_command(*argv)
    return type(exc.value), wire_error(exc.value)


def two_slots(cluster):
    """Two tags on different slots of one master, and that master."""
    master, (a, b) = next(iter(tags(cluster, "x", per_master=2).items()))
    assert key_slot(f"{{{a}}}".encode()) != key_slot(f"{{{b}}}".encode())
    return master, a, b


def crossing(a, b):
    """One command of each family whose keys are split between tags a and b."""
    model, script, ins, outs = f"model{{{a}}}", f"pre{{{a}}}", f"in{{{b}}}", f"out{{{a}}}"
    return [
        m_exec(model, [ins], [outs]),
        ("AI.MODELRUN", model, "INPUTS", ins, "OUTPUTS", outs),
        s_exec(script, "pre", [ins, f"ref{{{a}}}"], [outs]),
        ("AI.SCRIPTEXECUTE", script, "pre", "KEYS", 1, f"k{{{b}}}", "INPUTS", 1, f"ref{{{a}}}",
         "OUTPUTS", 1, outs),
        ("AI.SCRIPTRUN", script, "pre", "INPUTS", ins, f"ref{{{a}}}", "OUTPUTS", outs),
        ("AI.DAGEXECUTE", "LOAD", 1, ins, "PERSIST", 1, outs, "|>", *m_exec(model, [ins], [outs])),
        ("AI.DAGEXECUTE", "ROUTING", f"{{{b}}}", "|>", *m_exec(model, ["x"], ["y"])),
        ("AI.DAGEXECUTE_RO", "LOAD", 1, ins, "ROUTING", f"{{{a}}}", "|>", *t_get(ins)),
        ("AI.DAGRUN", "LOAD", 1, ins, "PERSIST", 1, outs, "|>", *t_get(ins)),
        ("AI.DAGRUN_RO", "LOAD", 2, ins, f"ref{{{a}}}", "|>", *t_get(ins)),
    ]


def test_keys_of_two_slots_get_the_crossslot_error_of_core_commands(cluster):
    master, a, b = two_slots(cluster)
    client = master.client()
    core = refusal(client, "MSET", f"k{{{a}}}", 1, f"k{{{b}}}", 2)
    assert core[1] == "CROSSSLOT Keys in request don't hash to the same slot"
    for argv in crossing(a, b):
        assert refusal(client, *argv) == core, argv
    # Keys without any tag: the slot of the whole name decides.
    a, b = "model", "in"
    assert key_slot(a.encode()) != key_slot(b.encode())
    assert refusal(client, *m_exec(a, [b], [a])) == refusal(client, "MSET", a, 1, b, 2)


def test_a_key_sent_to_the_wrong_node_gets_the_moved_error_of_get(cluster, fraud):
    users = tags(cluster, "moved", per_master=1)
    for owner, (u,) in users.items():
        slot = key_slot(f"{{{u}}}".encode())
        for other in set(cluster.nodes) - {owner}:
            client = other.client()
            core = refusal(client, "GET", f"ref{{{u}}}")
            assert core[1] == f"MOVED {slot} {owner.address}", core
            for argv in [("AI.TENSORGET", f"ref{{{u}}}", "META"),
                         ("AI.MODELSTORE", f"model{{{u}}}", "ONNX", "CPU", "BLOB", fraud.blob),
                         m_exec(f"model{{{u}}}", [f"in{{{u}}}"], [f"out{{{u}}}"]),
                         s_exec(f"pre{{{u}}}", "pre", [f"in{{{u}}}"], [f"out{{{u}}}"]),
                         ("AI.DAGEXECUTE", "ROUTING", f"{{{u}}}", "|>", *t_get("x")),
                         ("AI.INFO", f"model{{{u}}}")]:
                assert refusal(client, *argv) == core, argv


def test_replicas_run_read_only_dags_on_the_models_they_replicated(cluster, rc, fraud):
    users = tags(cluster, "ro", per_master=1)
    rng = np.random.default_rng(13)
    for master, (u,) in users.items():
        fraud.setup(rc, u)
        ack = master.client(single_connection_client=True)
        ref = Fraud.reference_data(rng)
        tensorset(ack, f"ref{{{u}}}", ref)
        assert ack.execute_command("WAIT", 1, WAIT_MS) == 1
        replica = cluster.replica_of(master).client(single_connection_client=True)
        argv = ("AI.DAGEXECUTE_RO", "LOAD", 1, f"ref{{{u}}}", "|>", *t_get(f"ref{{{u}}}", "META"))
        slot = key_slot(f"{{{u}}}".encode())
        assert refusal(replica, *argv)[1] == f"MOVED {slot} {master.address}"
        assert replica.execute_command("READONLY") is True
        np.testing.assert_array_equal(tensorget(replica, f"ref{{{u}}}"), ref)
        tx = Fraud.transaction(rng)
        reply = dag(replica, ("LOAD", 1, f"ref{{{u}}}"), t_set("feat", fraud.features(tx, ref)),
                    m_exec(f"model{{{u}}}", ["feat"], ["s"]), t_get("s", "VALUES"),
                    command="AI.DAGEXECUTE_RO")
        close(values(reply[-1], (1, 1)), fraud.score(tx, ref))


def test_after_a_master_is_killed_its_replica_serves_every_acknowledged_write(
        cluster, rc, fraud, capsys):
    users = tags(cluster, "fo")
    rng = np.random.default_rng(14)
    acknowledged = {}           # {user: {a read command: its reply on the master}}
    refs = {}
    for master, on_it in users.items():
        ack = master.client(single_connection_client=True)
        for u in on_it:
            refs[u] = set_up_user(ack, fraud, u, rng)
            scored(ack, fraud, u, refs[u], rng)
        assert ack.execute_command("WAIT", 1, WAIT_MS) == 1
        for u in on_it:
            acknowledged[u] = {argv: ack.execute_command(*argv) for argv in [
                ("AI.TENSORGET", f"ref{{{u}}}", "META", "BLOB"),
                ("AI.TENSORGET", f"score{{{u}}}", "META", "BLOB"),
                ("AI.MODELGET", f"model{{{u}}}", "META", "BLOB"),
                ("AI.SCRIPTGET", f"pre{{{u}}}", "META", "SOURCE")]}
    victim = next(iter(users))
    # The client's default node (where redis-py asks COMMAND GETKEYS) is the one
    # to die: the worst case for the client, below.
    rc.replace_default_node(rc.get_node(host="127.0.0.1", port=victim.port))
    for u in sum(users.values(), []):       # the client has used every master
        np.testing.assert_array_equal(tensorget(rc, f"ref{{{u}}}"), refs[u])
    heir, promoted = cluster.kill(victim)
    cluster.wait_healthy()
    with capsys.disabled():
        print(f"\nfailover: replica promoted {promoted:.1f} s after SIGKILL of its master "
              f"(cluster-node-timeout {cluster.node_timeout_ms} ms)")
    assert set(cluster.masters()) == set(users) - {victim} | {heir}
    survivor = heir.client()
    for u in users[victim]:
        for argv, reply in acknowledged[u].items():
            assert survivor.execute_command(*argv) == reply, argv
        # Run statistics are the node's own: outputs were replicated, not runs.
        assert info(survivor, f"model{{{u}}}")["calls"] == 0
    # The same client carries on. It reads first: redis-py 8.1 sends COMMAND
    # GETKEYS for commands with movable keys (all execution commands, like core's
    # ZUNIONSTORE) to its default node, and does not retry that call; a command
    # whose keys it finds itself (AI.TENSORGET, GET) meets the dead node, and the
    # client refreshes its view of the cluster.
    for u in sum(users.values(), []):
        np.testing.assert_array_equal(tensorget(rc, f"ref{{{u}}}"), refs[u])
    for u in sum(users.values(), []):
        scored(rc, fraud, u, refs[u], rng)
    for u in users[victim]:
        assert info(survivor, f"model{{{u}}}")["calls"] == 1
