"""DEBUG DIGEST of the three data types, and replicas that do a full sync (one
through an RDB file, one diskless) and then follow the stream while 32 clients
write tensors, run models, scripts and DAGs and overwrite and delete models
and scripts: afterwards they hold the primary's keys byte for byte (issue 11,
section 3)."""
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from redis.exceptions import ResponseError

import models
from conftest import wait_info, wait_until
from models import MODEL_EMPTY, mlp_inputs, modelexecute, store, tensorset
from test_persistence import DTYPES, REPLICATION_MODES, load_backends, make_tensor
from test_persistence import tensorset as tensorset_raw
from test_scripts import ENTRY, SCRIPT_EMPTY
from test_tensor import wire_error

pytestmark = models.IGNORE_TORCH_JIT_DEPRECATION


def digest(client, key):
    [value] = client.execute_command("DEBUG", "DIGEST-VALUE", key)
    return value


# ---------------------------------------------------------------- the digest callbacks

def assert_digests(client, same, different):
    """Keys in `same` hold equal values (one digest), every key in `different`
    a digest of its own."""
    digests = {key: digest(client, key) for key in [*same, *different]}
    assert len({digests[key] for key in same}) == 1, digests
    assert len(set(digests.values())) == 1 + len(different), digests


def test_tensor_digest(r):
    tensor = make_tensor("INT16", (2, 3))
    for key in ("a", "b"):
        tensorset_raw(r, key, tensor)
    different = []
    for i in range(len(tensor.blob)):       # every byte
        blob = bytearray(tensor.blob)
        blob[i] ^= 1
        different.append(f"byte{i}")
        tensorset_raw(r, different[-1], tensor._replace(blob=bytes(blob)))
    for key, changed in (("shape", tensor._replace(shape=(3, 2))),
                         ("dtype", tensor._replace(dtype="UINT16")),
                         ("rank", tensor._replace(shape=(6,)))):
        tensorset_raw(r, key, changed)
        different.append(key)
    assert_digests(r, ["a", "b"], different)
    # Every dtype: a value of its own, unchanged by an RDB round trip.
    tensors = {dtype: make_tensor(dtype, (2, 2)) for dtype in DTYPES}
    for dtype, tensor in tensors.items():
        tensorset_raw(r, dtype, tensor)
    before = {key: digest(r, key) for key in r.keys()}
    assert len({before[dtype.encode()] for dtype in DTYPES}) == len(DTYPES)
    assert r.execute_command("DEBUG", "RELOAD") == b"OK"
    assert {key: digest(r, key) for key in r.keys()} == before


def flip_weight_byte(blob):
    """The ONNX MLP with one byte of its first weight matrix changed: still a
    valid model (models.onnx_mlp draws W1 first)."""
    w1 = np.random.default_rng(models.SEED).standard_normal((4, 8)).astype(np.float32).tobytes()
    at = blob.index(w1)
    return blob[:at] + bytes([blob[at] ^ 1]) + blob[at + 1:]


def test_model_digest(r, blobs):
    mlp = blobs("onnx_mlp")
    options = ("TAG", "t", "BATCHSIZE", 4, "MINBATCHSIZE", 2, "MINBATCHTIMEOUT", 7)
    for key in ("a", "b"):
        assert store(r, key, "ONNX", mlp, *options) == b"OK"
    changes = {"tag": ("TAG", "u", *options[2:]),
               "batchsize": (*options[:3], 5, *options[4:]),
               "minbatchsize": (*options[:5], 3, *options[6:]),
               "minbatchtimeout": (*options[:7], 8),
               "no-options": ()}
    for key, changed in changes.items():
        assert store(r, key, "ONNX", mlp, *changed) == b"OK"
    assert store(r, "device", "ONNX", mlp, *options, device="cpu") == b"OK"
    assert store(r, "blob", "ONNX", flip_weight_byte(mlp), *options) == b"OK"
    assert_digests(r, ["a", "b"], [*changes, "device", "blob"])
    before = {key: digest(r, key) for key in r.keys()}
    assert r.execute_command("DEBUG", "RELOAD") == b"OK"
    assert {key: digest(r, key) for key in r.keys()} == before


def test_script_digest(r):
    source = f"def add{ENTRY}:\n    return tensors[0] + tensors[1]\n" \
             f"def sub{ENTRY}:\n    return tensors[0] - tensors[1]\n"

    def scriptstore(key, device="CPU", tag="t", entry_points=("add", "sub"), src=source):
        assert r.execute_command("AI.SCRIPTSTORE", key, device, "TAG", tag, "ENTRY_POINTS",
                                 len(entry_points), *entry_points, "SOURCE", src) == b"OK"

    scriptstore("a")
    scriptstore("b")
    scriptstore("device", device="cpu")
    scriptstore("tag", tag="u")
    scriptstore("entry_points", entry_points=("add",))
    scriptstore("source", src=source.replace("tensors[0] - ", "tensors[0] + "))
    assert r.execute_command("AI.SCRIPTSET", "scriptset", "CPU", "TAG", "t",
                             "SOURCE", source) == b"OK"
    assert_digests(r, ["a", "b"], ["device", "tag", "entry_points", "source", "scriptset"])
    before = {key: digest(r, key) for key in r.keys()}
    assert r.execute_command("DEBUG", "RELOAD") == b"OK"
    assert {key: digest(r, key) for key in r.keys()} == before


# ---------------------------------------------------------------- a replica under load

CLIENTS = 32
SEED_BASE = 11
PHASE = 3           # seconds of workload before each replica attaches, and after
TENSOR_KEYS = 16    # t0..: any dtype; x0.., z0..: MLP inputs; y0.., h0..: outputs
MODELS = ("m0", "m1", "m2")
SCRIPTS = ("s0", "s1")
SOURCE = f"""
def add{ENTRY}:
    return tensors[0] + tensors[1]

def count{ENTRY}:
    redis.execute("INCRBY", keys[0], args[0])
    return tensors[0] * 2
"""
# The models swap between two backends of the same signature: x [N,4], z [N,3] -> y, h.
MODEL_BLOBS = (("ONNX", "onnx_mlp"), ("TORCH", "torch_pair"))
# Replies that concurrent deletions make legitimate.
EXPECTED_ERRORS = {MODEL_EMPTY, SCRIPT_EMPTY}


def ok(reply):
    assert reply == b"OK", reply


def rows(k):
    """The batch size of x{k} and z{k}: fixed per key, as clients set them one at a time."""
    return 1 + k % 3


class Workload:
    """CLIENTS threads, each its own connection and random stream of requests
    on shared keys, until stop(); counts what succeeded."""

    def __init__(self, server, blobs):
        self.server, self.blobs = server, blobs
        self.done = threading.Event()
        self.counts = {}
        self.failures = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.client, args=(i,)) for i in range(CLIENTS)]

    def start(self):
        for thread in self.threads:
            thread.start()

    def stop(self):
        self.done.set()
        for thread in self.threads:
            thread.join()
        assert not self.failures, self.failures[:5]

    def model(self, client, rng, key):
        backend, builder = MODEL_BLOBS[rng.integers(2)]
        return store(client, key, backend, self.blobs(builder), "TAG", f"t{rng.integers(1000)}",
                     "BATCHSIZE", int(rng.choice([0, 8])))

    def script(self, client, rng, key):
        return client.execute_command("AI.SCRIPTSTORE", key, "CPU", "TAG", f"t{rng.integers(1000)}",
                                      "ENTRY_POINTS", 2, "add", "count", "SOURCE", SOURCE)

    def request(self, client, rng):
        """One random request (each reply checked); returns its kind."""
        k = rng.integers(TENSOR_KEYS)
        model, script = rng.choice(MODELS), rng.choice(SCRIPTS)
        choice = rng.random()
        if choice < 0.3:
            dtype = DTYPES[rng.integers(len(DTYPES))]
            shape = tuple(int(d) for d in rng.integers(1, 5, rng.integers(0, 3)))
            tensorset_raw(client, f"t{k}", make_tensor(dtype, shape, int(rng.integers(1 << 30))))
            return "TENSORSET"
        if choice < 0.4:
            x, z = mlp_inputs(rng, rows(k))
            tensorset(client, f"x{k}", x)
            tensorset(client, f"z{k}", z)
            return "TENSORSET"
        if choice < 0.6:
            ok(modelexecute(client, model, [f"x{k}", f"z{k}"], [f"y{k}", f"h{k}"]))
            return "MODELEXECUTE"
        if choice < 0.7:
            ok(client.execute_command(
                "AI.SCRIPTEXECUTE", script, "count", "KEYS", 1, f"n{k}", "INPUTS", 1, f"x{k}",
                "ARGS", 1, int(rng.integers(1, 10)), "OUTPUTS", 1, f"c{k}"))
            return "SCRIPTEXECUTE"
        if choice < 0.85:
            x, _ = mlp_inputs(rng, rows(k))
            reply = client.execute_command(
                "AI.DAGEXECUTE", "LOAD", 1, f"z{k}", "PERSIST", 2, f"dy{k}", f"ds{k}",
                "|>", "AI.TENSORSET", "dx", "FLOAT", *x.shape, "BLOB", x.tobytes(),
                "|>", "AI.MODELEXECUTE", model, "INPUTS", 2, "dx", f"z{k}",
                "OUTPUTS", 2, f"dy{k}", "dh",
                "|>", "AI.SCRIPTEXECUTE", script, "add", "INPUTS", 2, f"dy{k}", f"dy{k}",
                "OUTPUTS", 1, f"ds{k}")
            assert reply == [b"OK"] * 3, reply
            return "DAGEXECUTE"
        if choice < 0.93:
            ok(self.model(client, rng, model))
            return "MODELSTORE"
        if choice < 0.98:
            ok(self.script(client, rng, script))
            return "SCRIPTSTORE"
        if choice < 0.99:
            ok(client.execute_command("AI.MODELDEL", model))
            return "MODELDEL"
        ok(client.execute_command("AI.SCRIPTDEL", script))
        return "SCRIPTDEL"

    def client(self, i):
        rng = np.random.default_rng([SEED_BASE, i])
        client = self.server.client()
        counts = {}
        try:
            while not self.done.is_set():
                try:
                    kind = self.request(client, rng)
                except ResponseError as exc:
                    if wire_error(exc) not in EXPECTED_ERRORS:
                        raise
                    kind = "expected error"
                counts[kind] = counts.get(kind, 0) + 1
        except Exception as exc:        # reported by stop(), on the test's thread
            self.failures.append(f"client {i}: {type(exc).__name__} {exc}")
        with self.lock:
            for kind, n in counts.items():
                self.counts[kind] = self.counts.get(kind, 0) + n


def setup_keys(workload, client):
    rng = np.random.default_rng(SEED_BASE)
    for model in MODELS:
        assert workload.model(client, rng, model) == b"OK"
    for script in SCRIPTS:
        assert workload.script(client, rng, script) == b"OK"
    for k in range(TENSOR_KEYS):
        x, z = mlp_inputs(rng, rows(k))
        tensorset(client, f"x{k}", x)
        tensorset(client, f"z{k}", z)


def assert_same_keys(client, replica_client):
    """Once the replica reached the primary's offset: the same keys, digests,
    models and scripts. Returns the number of keys."""
    assert client.wait(1, 60000) >= 1
    wait_until(lambda: replica_client.info("replication")["slave_repl_offset"] ==
               client.info("replication")["master_repl_offset"],
               "the replica to reach the primary's offset")
    keys = sorted(client.keys())
    assert sorted(replica_client.keys()) == keys
    for key in keys:
        assert digest(replica_client, key) == digest(client, key), key
    assert replica_client.execute_command("DEBUG", "DIGEST") == \
        client.execute_command("DEBUG", "DIGEST")
    types = {key: client.type(key) for key in keys}
    for key in (k for k in keys if types[k] == b"AI__MODEL"):
        for part in ("META", "BLOB"):
            assert replica_client.execute_command("AI.MODELGET", key, part) == \
                client.execute_command("AI.MODELGET", key, part), key
    for key in (k for k in keys if types[k] == b"AI_SCRIPT"):
        assert replica_client.execute_command("AI.SCRIPTGET", key, "META", "SOURCE") == \
            client.execute_command("AI.SCRIPTGET", key, "META", "SOURCE"), key
    return len(keys)


SYNCS = {"disk": "target: disk", "diskless": "target: replicas sockets"}


def test_replicas_under_load_hold_the_primary_keys(server_factory, blobs):
    """A replica attaches mid-workload with a full sync through an RDB file,
    a second one later with a diskless sync; both then follow the stream."""
    primary = server_factory(name="primary")
    client = primary.client()
    replicas = {mode: server_factory(name=f"replica-{mode}").client() for mode in SYNCS}
    workload = Workload(primary, blobs)
    # The replicas import the frameworks while the primary does, not while
    # loading the sync's RDB (tests/test_model_persistence.py covers that): the
    # test's time goes to requests.
    with ThreadPoolExecutor() as pool:
        imports = {mode: pool.submit(load_backends, c) for mode, c in replicas.items()}
        setup_keys(workload, client)
        workload.start()
        try:
            for mode, replica_client in replicas.items():
                time.sleep(PHASE)
                imports[mode].result()
                options = REPLICATION_MODES[mode][0]
                for name, value in zip(options[::2], options[1::2]):
                    assert client.config_set(name.lstrip("-"), value)
                assert replica_client.replicaof("127.0.0.1", primary.port)
                wait_info(replica_client, "replication", master_link_status="up")
            time.sleep(PHASE)               # both follow the stream
        finally:
            workload.stop()
    assert client.info("stats")["sync_full"] == len(SYNCS)
    log = primary.log()
    assert all(f"Starting BGSAVE for SYNC with {target}" in log for target in SYNCS.values())
    for mode, replica_client in replicas.items():
        keys = assert_same_keys(client, replica_client)
        print(f"\n{mode} sync: {keys} keys, digests equal")
    print(f"requests: {workload.counts}")
    # Every kind of request ran.
    assert {"TENSORSET", "MODELEXECUTE", "SCRIPTEXECUTE", "DAGEXECUTE", "MODELSTORE",
            "SCRIPTSTORE", "MODELDEL", "SCRIPTDEL"} <= set(workload.counts)
