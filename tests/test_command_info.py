"""What Redis knows about the AI.* commands (issue 11, section 1): the keys
each command declares (COMMAND GETKEYS / GETKEYSANDFLAGS, key specs), what
COMMAND INFO and COMMAND DOCS say, and the features built on the keys: ACL
key patterns (also %R~ / %W~) and client-side caching invalidation. Key
positions and flags follow spec/persistence-replication-cluster.md ("Redis
Cluster"), dag.md ("Key positions") and commands.md ("Recommended Redis 7 key
specifications")."""
import numpy as np
import pytest
import redis
from redis.exceptions import NoPermissionError, ResponseError

import models
from conftest import free_port, wait_until
from models import (DELETE, READ, READ_WRITE, ROUTE, WRITE, keys_and_flags, modelexecute, store,
                    tensorget, tensorset)
from test_scripts import execute as scriptexecute, scriptstore
from test_tensor import wire_error

pytestmark = models.IGNORE_TORCH_JIT_DEPRECATION

INCOMPLETE = "incomplete"           # Redis then asks the module's getkeys callback

COMMANDS = ["AI.TENSORSET", "AI.TENSORGET", "AI._TENSORVIEW", "AI.CONFIG", "AI.MODELSTORE",
            "AI.MODELSET", "AI.MODELGET", "AI.MODELDEL", "AI.MODELEXECUTE", "AI.MODELRUN",
            "AI._MODELSCAN", "AI.INFO", "AI.SCRIPTSTORE", "AI.SCRIPTSET", "AI.SCRIPTGET",
            "AI.SCRIPTDEL", "AI.SCRIPTEXECUTE", "AI.SCRIPTRUN", "AI._SCRIPTSCAN", "AI.DAGEXECUTE",
            "AI.DAGEXECUTE_RO", "AI.DAGRUN", "AI.DAGRUN_RO"]
KEYLESS = ["AI.CONFIG", "AI._MODELSCAN", "AI._SCRIPTSCAN"]
BACKENDS = {"TF", "TFLITE", "TORCH", "ONNX"}
DAG_TOKENS = {"LOAD", "PERSIST", "ROUTING", "TIMEOUT", "|>"}
DAG_RO_TOKENS = DAG_TOKENS - {"PERSIST"}

# Per command: the flags of each key spec (COMMAND INFO), and the tokens of
# its grammar in spec/commands.md and dag.md (COMMAND DOCS).
DECLARED = {
    "AI.TENSORSET": ([WRITE], {"FLOAT", "DOUBLE", "INT8", "INT16", "INT32", "INT64", "UINT8",
                               "UINT16", "BOOL", "STRING", "BLOB", "VALUES"}),
    "AI.TENSORGET": ([READ], {"META", "BLOB", "VALUES"}),
    "AI._TENSORVIEW": ([READ], set()),
    "AI.CONFIG": ([], {"LOADBACKEND", *BACKENDS, "BACKENDSPATH", "MODEL_CHUNK_SIZE", "GET"}),
    "AI.MODELSTORE": ([WRITE], {*BACKENDS, "TAG", "BATCHSIZE", "MINBATCHSIZE", "MINBATCHTIMEOUT",
                                "INPUTS", "OUTPUTS", "BLOB"}),
    "AI.MODELSET": ([WRITE], {*BACKENDS, "TAG", "BATCHSIZE", "MINBATCHSIZE", "MINBATCHTIMEOUT",
                              "INPUTS", "OUTPUTS", "BLOB"}),
    "AI.MODELGET": ([READ], {"META", "BLOB"}),
    "AI.MODELDEL": ([DELETE], set()),
    "AI.MODELEXECUTE": ([READ, READ, WRITE | {INCOMPLETE}], {"INPUTS", "OUTPUTS", "TIMEOUT"}),
    "AI.MODELRUN": ([READ, READ | {INCOMPLETE}, WRITE | {INCOMPLETE}],
                    {"TIMEOUT", "INPUTS", "OUTPUTS"}),
    "AI._MODELSCAN": ([], set()),
    "AI.INFO": ([ROUTE], {"RESETSTAT"}),
    "AI.SCRIPTSTORE": ([WRITE], {"TAG", "ENTRY_POINTS", "SOURCE"}),
    "AI.SCRIPTSET": ([WRITE], {"TAG", "SOURCE"}),
    "AI.SCRIPTGET": ([READ], {"META", "SOURCE"}),
    "AI.SCRIPTDEL": ([DELETE], set()),
    "AI.SCRIPTEXECUTE": ([READ, READ_WRITE | {INCOMPLETE}, READ | {INCOMPLETE},
                          WRITE | {INCOMPLETE}], {"KEYS", "INPUTS", "ARGS", "OUTPUTS", "TIMEOUT"}),
    "AI.SCRIPTRUN": ([READ, READ | {INCOMPLETE}, WRITE | {INCOMPLETE}],
                     {"TIMEOUT", "INPUTS", "OUTPUTS"}),
    "AI._SCRIPTSCAN": ([], set()),
    "AI.DAGEXECUTE": ([READ | {INCOMPLETE}, WRITE | {INCOMPLETE}, ROUTE | {INCOMPLETE},
                       READ | {INCOMPLETE}], DAG_TOKENS),
    "AI.DAGEXECUTE_RO": ([READ | {INCOMPLETE}, ROUTE | {INCOMPLETE}, READ | {INCOMPLETE}],
                         DAG_RO_TOKENS),
    "AI.DAGRUN": ([READ | {INCOMPLETE}, WRITE | {INCOMPLETE}, ROUTE | {INCOMPLETE},
                   READ | {INCOMPLETE}], DAG_TOKENS),
    "AI.DAGRUN_RO": ([READ | {INCOMPLETE}, ROUTE | {INCOMPLETE}, READ | {INCOMPLETE}],
                     DAG_RO_TOKENS),
}


def as_map(flat):
    """A RESP2 map (flat [name, value, ...]) as a dict with str names."""
    return {flat[i].decode(): flat[i + 1] for i in range(0, len(flat), 2)}


def docs(r, name):
    reply = r.execute_command("COMMAND DOCS", name)
    assert reply[0].decode() == name
    return as_map(reply[1])


def arguments(doc):
    """The argument tree of COMMAND DOCS, every node a dict (subtrees under
    "arguments")."""
    nodes = [as_map(a) for a in doc.get("arguments", [])]
    for node in nodes:
        node["arguments"] = arguments(node)
    return nodes


def walk(nodes):
    for node in nodes:
        yield node
        yield from walk(node["arguments"])


def info(r, name):
    (reply,) = r.execute_command("COMMAND INFO", name)
    return reply


# ================================================================ declared keys

GETKEYS = [
    (["AI.TENSORSET", "t", "FLOAT", 1, "VALUES", 1], [("t", WRITE)]),
    (["AI.TENSORGET", "t", "META", "BLOB"], [("t", READ)]),
    (["AI._TENSORVIEW", "t"], [("t", READ)]),
    (["AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", "x"], [("m", WRITE)]),
    (["AI.MODELSET", "m", "ONNX", "CPU", "BLOB", "x"], [("m", WRITE)]),
    (["AI.MODELGET", "m", "META"], [("m", READ)]),
    (["AI.MODELDEL", "m"], [("m", DELETE)]),
    (["AI.INFO", "m", "RESETSTAT"], [("m", ROUTE)]),
    (["AI.SCRIPTSTORE", "s", "CPU", "ENTRY_POINTS", 1, "f", "SOURCE", "x"], [("s", WRITE)]),
    (["AI.SCRIPTSET", "s", "CPU", "SOURCE", "x"], [("s", WRITE)]),
    (["AI.SCRIPTGET", "s", "SOURCE"], [("s", READ)]),
    (["AI.SCRIPTDEL", "s"], [("s", DELETE)]),
    (["AI.MODELEXECUTE", "m", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "c", "TIMEOUT", 5],
     [("m", READ), ("a", READ), ("b", READ), ("c", WRITE)]),
    # An input named like the keyword: a keyword search would stop there.
    (["AI.MODELEXECUTE", "m", "INPUTS", 1, "OUTPUTS", "OUTPUTS", 1, "o"],
     [("m", READ), ("OUTPUTS", READ), ("o", WRITE)]),
    # Inputs up to the first OUTPUTS, outputs after it (even one named OUTPUTS).
    (["AI.MODELRUN", "m", "TIMEOUT", 5, "INPUTS", "a", "b", "OUTPUTS", "c", "OUTPUTS"],
     [("m", READ), ("a", READ), ("b", READ), ("c", WRITE), ("OUTPUTS", WRITE)]),
    (["AI.SCRIPTEXECUTE", "s", "f", "KEYS", 1, "INPUTS", "INPUTS", 1, "a", "ARGS", 1, "KEYS",
      "TIMEOUT", 9],
     [("s", READ), ("INPUTS", READ_WRITE), ("a", READ)]),
    # The deprecated form takes its sections in any order; `$` is not a key.
    (["AI.SCRIPTRUN", "s", "f", "OUTPUTS", "o", "TIMEOUT", 5, "INPUTS", "a", "$", "b"],
     [("s", READ), ("o", WRITE), ("a", READ), ("b", READ)]),
    (["AI.DAGRUN", "LOAD", 1, "a", "PERSIST", 1, "b", "|>", "AI.MODELRUN", "m", "INPUTS", "a",
      "OUTPUTS", "b", "|>", "AI.SCRIPTRUN", "s", "f", "INPUTS", "a", "OUTPUTS", "c"],
     [("a", READ), ("b", WRITE), ("m", READ), ("s", READ)]),
    (["AI.DAGRUN_RO", "ROUTING", "{x}", "|>", "AI.TENSORGET", "a", "META"], [("{x}", ROUTE)]),
    (["AI.DAGEXECUTE_RO", "LOAD", 2, "a", "b", "|>", "AI.MODELEXECUTE", "m", "INPUTS", 2, "a",
      "b", "OUTPUTS", 1, "c", "|>", "AI.TENSORGET", "c", "VALUES"],
     [("a", READ), ("b", READ), ("m", READ)]),
]


@pytest.mark.parametrize("argv,expected", GETKEYS, ids=lambda a: " ".join(map(str, a))[:60])
def test_getkeysandflags_reports_each_key_with_how_it_is_used(r, argv, expected):
    assert keys_and_flags(r, *argv) == expected
    assert r.command_getkeys(*argv) == [key for key, _ in expected]


@pytest.mark.parametrize("argv", [["AI.CONFIG", "GET", "BACKENDSPATH"], ["AI._MODELSCAN", "m"],
                                  ["AI._SCRIPTSCAN", "s"]], ids=lambda a: a[0])
def test_node_local_commands_declare_no_keys(r, argv):
    with pytest.raises(ResponseError, match="has no key arguments"):
        r.command_getkeys(*argv)


# Counts past the argument vector, past int and long long, negative or not
# numbers, and lists cut short: the callbacks report only real positions.
GARBAGE = [
    ["AI.MODELEXECUTE", "m"], ["AI.MODELEXECUTE", "m", "INPUTS"],
    ["AI.MODELEXECUTE", "m", "INPUTS", 4294967294, "a"],
    ["AI.MODELEXECUTE", "m", "INPUTS", 9223372036854775807, "a", "OUTPUTS", 9223372036854775807],
    ["AI.MODELEXECUTE", "m", "INPUTS", 0, "OUTPUTS", -1, "o"],
    ["AI.MODELEXECUTE", "m", "INPUTS", "x", "a", "OUTPUTS", 1, "o"],
    ["AI.MODELRUN", "m"], ["AI.MODELRUN", "m", "TIMEOUT"], ["AI.MODELRUN", "m", "OUTPUTS"],
    ["AI.SCRIPTEXECUTE", "s"], ["AI.SCRIPTEXECUTE", "s", "f", "KEYS"],
    ["AI.SCRIPTEXECUTE", "s", "f", "KEYS", 4294967294, "k", "INPUTS", 1, "a"],
    ["AI.SCRIPTEXECUTE", "s", "f", "ARGS", 9223372036854775807, "x", "OUTPUTS", 1, "o"],
    ["AI.SCRIPTEXECUTE", "s", "f", "INPUTS", -2, "a"],
    ["AI.SCRIPTRUN", "s"], ["AI.SCRIPTRUN", "s", "f", "TIMEOUT"], ["AI.SCRIPTRUN", "s", "f", "$"],
    ["AI.DAGEXECUTE", "LOAD"], ["AI.DAGEXECUTE", "LOAD", 4294967294, "a"],
    ["AI.DAGEXECUTE", "PERSIST", 9223372036854775807, "a", "ROUTING"],
    ["AI.DAGEXECUTE", "LOAD", -1, "a", "|>"], ["AI.DAGRUN", "|>", "AI.MODELRUN"],
    ["AI.DAGEXECUTE_RO", "ROUTING"], ["AI.DAGRUN_RO", "|>", "AI.SCRIPTRUN"],
]


@pytest.mark.parametrize("argv", GARBAGE, ids=lambda a: " ".join(map(str, a))[:60])
def test_getkeys_of_malformed_arguments_reports_only_arguments(r, argv):
    try:
        keys = r.command_getkeys(*argv)
    except ResponseError as exc:
        assert str(exc) == "Invalid arguments specified for command"
    else:
        assert set(keys) <= {str(a) for a in argv[1:]}
    assert r.ping()


@pytest.fixture
def user(r):
    """user(*rules): a client of a new ACL user allowed every command, with
    only the given key patterns; the users are deleted afterwards."""
    names = []

    def make(*rules):
        name = f"keys{len(names)}"
        names.append(name)
        r.execute_command("ACL", "SETUSER", name, "on", ">pw", "+@all", *rules)
        kwargs = r.connection_pool.connection_kwargs
        return redis.Redis(host=kwargs["host"], port=kwargs["port"], username=name,
                           password="pw", protocol=2)
    yield make
    for name in names:
        r.execute_command("ACL", "DELUSER", name)


@pytest.mark.parametrize("name", COMMANDS)
def test_name_alone_from_a_user_with_key_patterns_is_answered(r, user, name):
    """ACL asks the getkeys callback about a command with no arguments at all
    (Redis 7.0 reads every position reported: none may be past the end)."""
    models.outcome(user("~allowed*").execute_command, name)
    assert r.ping()


# ================================================================ COMMAND INFO / DOCS

def test_every_command_is_described(r):
    assert sorted(n.decode() for n in r.execute_command("COMMAND LIST", "FILTERBY", "MODULE",
                                                        "ai")) == sorted(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_command_docs_give_summary_version_and_grammar(r, name):
    doc = docs(r, name)
    assert doc["summary"] and doc["complexity"] and doc["group"] == b"module"
    assert doc["module"] == b"ai"
    assert doc["since"] in (b"1.0.0", b"1.2.0", b"1.2.7")
    tree = arguments(doc)
    tokens = {n["token"].decode() for n in walk(tree) if "token" in n}
    assert tokens == DECLARED[name][1]
    specs = DECLARED[name][0]
    key_args = [n for n in walk(tree) if n["type"] == b"key"]
    assert all(0 <= n["key_spec_index"] < len(specs) for n in key_args)
    if specs and specs[0] != READ | {INCOMPLETE}:    # DAGs start with optional LOAD
        assert tree[0]["type"] == b"key" and tree[0]["key_spec_index"] == 0


@pytest.mark.parametrize("name", COMMANDS)
def test_command_info_gives_arity_flags_and_key_specs(r, name):
    reply = info(r, name)
    assert reply[0].decode() == name
    # Our own arity checks reply; Redis's would name the command in upper
    # case and come before the transaction check.
    assert reply[1] == -1
    flags = {f.decode() for f in reply[2]}
    specs = [{f.decode() for f in as_map(s)["flags"]} for s in reply[8]]
    assert specs == DECLARED[name][0]
    # The legacy first/last/step, as Redis derives it from the key specs; a
    # DAG's keys have no fixed place (movablekeys: clients ask COMMAND GETKEYS).
    if name in KEYLESS or name.startswith("AI.DAG"):
        assert reply[3:6] == [0, 0, 0]
    else:
        assert reply[3:6] == [1, 1, 1]
    writes = any(s & {"OW", "RW", "RM"} for s in specs)
    assert ("write" in flags) == writes
    assert ("readonly" in flags) == (not writes and name != "AI.CONFIG")
    if any(INCOMPLETE in s for s in specs):
        assert "movablekeys" in flags


def test_key_specs_locate_the_keys_of_a_well_formed_modelexecute(r):
    _, inputs, outputs = [as_map(s) for s in info(r, "AI.MODELEXECUTE")[8]]
    assert as_map(inputs["begin_search"]) == {"type": b"keyword",
                                              "spec": [b"keyword", b"INPUTS", b"startfrom", 2]}
    assert as_map(outputs["find_keys"]) == {
        "type": b"keynum", "spec": [b"keynumidx", 0, b"firstkey", 1, b"keystep", 1]}


def test_scans_are_tipped_for_every_shard(r):
    for name in ("AI._MODELSCAN", "AI._SCRIPTSCAN"):
        assert info(r, name)[7] == [b"request_policy:all_shards", b"nondeterministic_output_order"]


@pytest.mark.parametrize("name", ["AI.TENSORSET", "AI.TENSORGET", "AI.MODELSTORE", "AI.MODELGET",
                                  "AI.MODELDEL", "AI.INFO", "AI.SCRIPTSTORE", "AI.SCRIPTGET",
                                  "AI.SCRIPTDEL", "AI.CONFIG", "AI.MODELSET", "AI.SCRIPTSET"])
def test_arity_error_names_the_command_as_typed(r, name):
    with pytest.raises(ResponseError) as exc:
        r.execute_command(name.lower())
    assert wire_error(exc.value) == f"ERR wrong number of arguments for '{name.lower()}' command"


@pytest.mark.parametrize("name", ["AI.MODELEXECUTE", "AI.MODELRUN", "AI.SCRIPTEXECUTE",
                                  "AI.SCRIPTRUN", "AI.DAGEXECUTE", "AI.DAGRUN"])
def test_transaction_check_comes_before_arity(r, name):
    models.assert_refused_in_transaction(r, [name])


# ================================================================ ACL key patterns

@pytest.fixture
def mlp_keys(r, blobs):
    """The ONNX MLP and its inputs under `prefix`: mlp_keys("allowed:") -> (model, x, z)."""
    arrays = models.mlp_inputs(np.random.default_rng(5))

    def make(prefix, model_prefix=None):
        model = f"{model_prefix or prefix}m"
        assert store(r, model, "ONNX", blobs("onnx_mlp")) == b"OK"
        tensorset(r, f"{prefix}x", arrays[0])
        tensorset(r, f"{prefix}z", arrays[1])
        return model, f"{prefix}x", f"{prefix}z"
    return make


def dagexecute(client, load, persist, model, inputs, outputs):
    return client.execute_command(
        "AI.DAGEXECUTE", "LOAD", len(load), *load, "PERSIST", len(persist), *persist, "|>",
        "AI.MODELEXECUTE", model, "INPUTS", len(inputs), *inputs, "OUTPUTS", len(outputs),
        *outputs)


def test_acl_key_pattern_admits_modelexecute_and_dag_on_allowed_keys_only(r, user, mlp_keys):
    model, x, z = mlp_keys("allowed:")
    mlp_keys("other:", model_prefix="other:")
    u = user("~allowed*")
    assert modelexecute(u, model, [x, z], ["allowed:y", "allowed:h"]) == b"OK"
    assert dagexecute(u, [x, z], ["allowed:y2"], model, [x, z], ["allowed:y2", "h"]) == [b"OK"]
    refused = [
        lambda: modelexecute(u, model, ["other:x", z], ["allowed:y", "allowed:h"]),   # input
        lambda: modelexecute(u, model, [x, z], ["allowed:y", "other:h"]),             # output
        lambda: modelexecute(u, "other:m", [x, z], ["allowed:y", "allowed:h"]),       # model
        lambda: dagexecute(u, [x, z], ["other:y"], model, [x, z], ["other:y", "h"]),   # PERSIST
        lambda: dagexecute(u, ["other:x", z], ["allowed:y"], model, ["other:x", z],   # LOAD
                           ["allowed:y", "h"]),
        lambda: dagexecute(u, [x, z], ["allowed:y"], "other:m", [x, z], ["allowed:y", "h"]),
    ]
    for call in refused:
        with pytest.raises(NoPermissionError, match="no permissions to access one of the keys"):
            call()
    assert not r.exists("other:y", "other:h")


def test_acl_key_pattern_admits_scriptexecute_on_allowed_keys_only(r, user):
    assert scriptstore(r, "allowed:s") == b"OK"
    tensorset(r, "allowed:a", np.ones((2, 2), np.float32))
    u = user("~allowed*")
    assert scriptexecute(u, "allowed:s", "add", ["allowed:a", "allowed:a"], ["allowed:c"],
                         keys=["allowed:k"]) == b"OK"
    np.testing.assert_array_equal(tensorget(r, "allowed:c"), np.full((2, 2), 2, np.float32))
    for inputs, outputs, keys in [(["allowed:a", "other:a"], ["allowed:c"], ["allowed:k"]),
                                  (["allowed:a", "allowed:a"], ["other:c"], ["allowed:k"]),
                                  (["allowed:a", "allowed:a"], ["allowed:c"], ["other:k"])]:
        with pytest.raises(NoPermissionError):
            scriptexecute(u, "allowed:s", "add", inputs, outputs, keys=keys)
    assert not r.exists("other:c")


def test_acl_read_and_write_patterns_follow_key_flags(r, user, mlp_keys, blobs):
    """Inputs, LOAD keys and the model need read permission, outputs and
    PERSIST keys write permission."""
    model, x, z = mlp_keys("in:", model_prefix="model:")
    u = user("%R~in:*", "%R~model:*", "%W~out:*")
    assert modelexecute(u, model, [x, z], ["out:y", "out:h"]) == b"OK"
    assert dagexecute(u, [x, z], ["out:y"], model, [x, z], ["out:y", "h"]) == [b"OK"]
    assert u.execute_command("AI.TENSORSET", "out:t", "FLOAT", 1, "VALUES", 1) == b"OK"
    assert u.execute_command("AI.TENSORGET", x, "META")
    assert store(r, "out:m", "ONNX", blobs("onnx_mlp")) == b"OK"
    refused = [
        lambda: modelexecute(u, model, [x, z], ["out:y", "in:h"]),          # output read-only
        lambda: modelexecute(u, model, ["out:y", z], ["out:y2", "out:h"]),  # input write-only
        lambda: modelexecute(u, "out:m", [x, z], ["out:y", "out:h"]),       # model write-only
        lambda: dagexecute(u, [x, z], ["in:y"], model, [x, z], ["in:y", "h"]),
        lambda: dagexecute(u, ["out:y", z], ["out:q"], model, ["out:y", z], ["out:q", "h"]),
        lambda: u.execute_command("AI.TENSORGET", "out:y", "META"),
        lambda: u.execute_command("AI.TENSORSET", x, "FLOAT", 1, "VALUES", 1),
    ]
    for call in refused:
        with pytest.raises(NoPermissionError):
            call()


# ================================================================ client-side caching

class Invalidations:
    """A RESP2 connection subscribed to __redis__:invalidate, which another
    client's CLIENT TRACKING redirects to."""

    def __init__(self, server):
        self.conn = redis.Connection(host="127.0.0.1", port=server.port, socket_timeout=10,
                                     protocol=2)
        self.conn.connect()
        self.conn.send_command("CLIENT", "ID")
        self.id = self.conn.read_response()
        self.conn.send_command("SUBSCRIBE", "__redis__:invalidate")
        assert self.conn.read_response()[0] == b"subscribe"

    def next(self):
        kind, channel, keys = self.conn.read_response()
        assert (kind, channel) == (b"message", b"__redis__:invalidate")
        return keys


def test_modelexecute_and_dag_outputs_invalidate_a_cached_tensorget(r, shared_server, mlp_keys):
    model, x, z = mlp_keys("")
    tensorset(r, "y", np.zeros((5, 2), np.float32))
    invalidations = Invalidations(shared_server)
    reader = shared_server.client()
    reader.execute_command("CLIENT", "TRACKING", "ON", "REDIRECT", invalidations.id)
    reader.execute_command("AI.TENSORGET", "y", "META")
    assert modelexecute(r, model, [x, z], ["y", "h"]) == b"OK"
    assert invalidations.next() == [b"y"]
    reader.execute_command("AI.TENSORGET", "y", "META")
    assert dagexecute(r, [x, z], ["y"], model, [x, z], ["y", "h"]) == [b"OK"]
    assert invalidations.next() == [b"y"]


# ================================================================ Cluster

@pytest.fixture
def cluster_node(server_factory):
    """A one-node Redis Cluster owning every slot: slot checks without redirections."""
    # The bus port is given: the default (port + 10000) overflows for high free ports.
    server = server_factory(config=["--cluster-enabled", "yes", "--cluster-config-file",
                                    "nodes.conf", "--cluster-port", free_port()])
    client = server.client()
    assert client.execute_command("CLUSTER ADDSLOTSRANGE", 0, 16383)
    wait_until(lambda: client.execute_command("CLUSTER INFO")["cluster_state"] == "ok",
               "cluster_state:ok")
    return client


CROSSSLOT = "CROSSSLOT Keys in request don't hash to the same slot"


@pytest.mark.parametrize("argv", [
    ["AI.MODELEXECUTE", "{a}m", "INPUTS", 1, "{a}x", "OUTPUTS", 1, "{b}y"],
    ["AI.MODELRUN", "{a}m", "INPUTS", "{b}x", "OUTPUTS", "{a}y"],
    ["AI.SCRIPTEXECUTE", "{a}s", "f", "KEYS", 1, "{b}k", "INPUTS", 1, "{a}x"],
    ["AI.SCRIPTRUN", "{a}s", "f", "INPUTS", "{a}x", "$", "{b}x", "OUTPUTS", "{a}y"],
    ["AI.DAGEXECUTE", "LOAD", 1, "{a}x", "PERSIST", 1, "{b}y", "|>", "AI.TENSORGET", "{a}x"],
    ["AI.DAGEXECUTE_RO", "ROUTING", "{b}", "|>", "AI.MODELEXECUTE", "{a}m", "INPUTS", 1, "x",
     "OUTPUTS", 1, "y"],
    ["AI.DAGRUN", "PERSIST", 1, "{a}y", "|>", "AI.SCRIPTRUN", "{b}s", "f", "INPUTS", "x",
     "OUTPUTS", "y"],
], ids=lambda a: a[0])
def test_cluster_refuses_keys_of_two_slots(cluster_node, argv):
    with pytest.raises(ResponseError) as exc:
        cluster_node.execute_command(*argv)
    assert wire_error(exc.value) == CROSSSLOT
    same_slot = [a.replace("{b}", "{a}") if isinstance(a, str) else a for a in argv]
    with pytest.raises(ResponseError) as exc:      # past the slot check: nothing is stored
        cluster_node.execute_command(*same_slot)
    assert wire_error(exc.value) != CROSSSLOT
