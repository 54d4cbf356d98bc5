"""What survives (issue 11, section 3): kill -9 during a mixed workload with
`appendfsync always`, an AOF rewrite and a BGSAVE done meanwhile, keeps every
acknowledged write; RDB files with tensors, models and scripts in every
older encoding version load at server start."""
import threading
import time

import numpy as np
from redis.exceptions import ConnectionError as RedisConnectionError

import models
from models import CASES, modelexecute, store, tensorget, tensorset
from rdb import model_layout, rdb_file, script_layout, tensor_layout
from test_persistence import AOF_CONFIG, NUMPY_TYPES, make_tensor, wait_aof_rewrite, wait_bgsave
from test_replication_load import digest
from test_scripts import ENTRY

pytestmark = models.IGNORE_TORCH_JIT_DEPRECATION

WRITERS = 16
PHASE = 1.5         # seconds of workload before the rewrite, the save and the kill
SOURCE = f"""
def twice{ENTRY}:
    return tensors[0] * 2

def twice_and_set{ENTRY}:
    redis.execute("SET", keys[0], args[0])
    return tensors[0] * 2
"""
# A writer's tensor keys hold [writer, round] times a factor (c and d went
# through `twice`); k holds the round as a string, m and s as their tag.
TENSOR_KEYS = {"x": 1, "y": 1, "c": 2, "d": 2}


class Writer(threading.Thread):
    """Writes its own keys in rounds, every value unique (writer number and
    round): `acked[key]` is the round of the last acknowledged write of a key,
    `pending[key]` that of a write sent but not acknowledged when the server died."""

    def __init__(self, server, i, blob):
        super().__init__()
        self.client, self.i, self.blob = server.client(), i, blob
        self.acked, self.pending = {}, {}
        self.writes = 0             # acknowledged
        self.error = None

    def key(self, name):
        return f"w{self.i}:{name}"

    def write(self, keys, seq, call, *args):
        for key in keys:
            self.pending[key] = seq
        reply = call(*args)
        assert reply in (b"OK", [b"OK"] * 3), reply
        for key in keys:
            self.acked[key] = self.pending.pop(key)
        self.writes += 1

    def round(self, seq):
        k, c = self.key, self.client.execute_command
        self.write([k("x")], seq, c, "AI.TENSORSET", k("x"), "INT64", 1, 2, "VALUES", self.i, seq)
        self.write([k("y")], seq, modelexecute, self.client, "identity", [k("x")], [k("y")])
        self.write([k("c"), k("k")], seq, c, "AI.SCRIPTEXECUTE", "script", "twice_and_set",
                   "KEYS", 1, k("k"), "INPUTS", 1, k("x"), "ARGS", 1, seq, "OUTPUTS", 1, k("c"))
        self.write([k("d")], seq, c, "AI.DAGEXECUTE", "PERSIST", 1, k("d"),
                   "|>", "AI.TENSORSET", "a", "INT64", 1, 2, "VALUES", self.i, seq,
                   "|>", "AI.MODELEXECUTE", "identity", "INPUTS", 1, "a", "OUTPUTS", 1, "b",
                   "|>", "AI.SCRIPTEXECUTE", "script", "twice", "INPUTS", 1, "b",
                   "OUTPUTS", 1, k("d"))
        if seq % 4 == 0:
            self.write([k("m")], seq, store, self.client, k("m"), "ONNX", self.blob, "TAG", seq)
            self.write([k("s")], seq, c, "AI.SCRIPTSTORE", k("s"), "CPU", "TAG", seq,
                       "ENTRY_POINTS", 1, "twice", "SOURCE", SOURCE)

    def run(self):
        seq = 0
        try:
            while True:
                self.round(seq)
                seq += 1
        except RedisConnectionError:
            pass                        # the server was killed
        except Exception as exc:        # reported on the test's thread
            self.error = exc


def written_seq(client, writer, name):
    """The round whose write a key holds, or None if the key is missing."""
    key = writer.key(name)
    if not client.exists(key):
        return None
    if name in TENSOR_KEYS:
        values = client.execute_command("AI.TENSORGET", key, "VALUES")
        factor = TENSOR_KEYS[name]
        assert values[0] == factor * writer.i and values[1] % factor == 0, (key, values)
        return values[1] // factor
    if name == "m":
        return int(models.meta(client, key)["tag"])
    if name == "s":
        meta = client.execute_command("AI.SCRIPTGET", key, "META")
        return int(meta[meta.index(b"tag") + 1])
    return int(client.get(key))


def test_kill_9_keeps_every_acknowledged_write(server_factory, blobs):
    server = server_factory(config=AOF_CONFIG)          # appendfsync always
    client = server.client()
    blob = blobs("onnx_identity", "INT64")
    assert store(client, "identity", "ONNX", blob) == b"OK"
    assert client.execute_command("AI.SCRIPTSTORE", "script", "CPU", "ENTRY_POINTS", 2, "twice",
                                  "twice_and_set", "SOURCE", SOURCE) == b"OK"
    writers = [Writer(server, i, blob) for i in range(WRITERS)]
    for writer in writers:
        writer.start()
    time.sleep(PHASE)
    assert client.bgrewriteaof()
    wait_aof_rewrite(client)
    time.sleep(PHASE)
    assert client.bgsave()
    wait_bgsave(client)
    time.sleep(PHASE)
    server.proc.kill()                                  # SIGKILL
    server.proc.wait()
    for writer in writers:
        writer.join()
        assert writer.error is None, repr(writer.error)

    server.start(timeout=120)                           # rebuilds the models: imports
    # The rewrite's base (an RDB preamble) and the writes after it.
    assert "DB loaded from base file" in server.log()
    assert "DB loaded from incr file" in server.log()
    client = server.client()
    verified = 0
    for writer in writers:
        names = {key.split(":")[1] for key in [*writer.acked, *writer.pending]}
        assert names == {*TENSOR_KEYS, "k", "m", "s"}
        for name in names:
            key = writer.key(name)
            found = written_seq(client, writer, name)
            allowed = {writer.acked.get(key), writer.pending.get(key, writer.acked.get(key))}
            assert found in allowed, (key, found, allowed)
            verified += 1
    print(f"\nkill -9: {verified} keys verified, the last of {sum(w.writes for w in writers)} "
          f"acknowledged writes; {sum(bool(w.pending) for w in writers)} writes in flight")


# ---------------------------------------------------------------- older RDB layouts

OLD_RDB_VERSION = 9     # what Redis 6, the server of encoding versions 0-3, wrote
LEGACY_SOURCE = "def twice(a):\n    return a * 2\n"     # AI.SCRIPTRUN's form, before entry points


def old_values(encver, blob):
    """{key: (type name, values, the command storing the same value today)} of
    one encoding version: a tensor per dtype, an ONNX model and a script."""
    values = {}
    for dtype in [*NUMPY_TYPES, "BOOL"]:        # STRING tensors came with version 4
        tensor = make_tensor(dtype, (2, 3), seed=encver)
        values[f"v{encver}:{dtype}"] = ("AI_TENSOR", tensor_layout(encver, *tensor),
                                        ("AI.TENSORSET", "*", dtype, 2, 3, "BLOB", tensor.blob))
    # MINBATCHSIZE only with MINBATCHTIMEOUT (version 2 on), so that one request runs.
    batching = (4, 2, 7) if encver >= 2 else (4, 0, 0)
    values[f"v{encver}:model"] = (
        "AI__MODEL",
        model_layout(encver, "ONNX", "CPU", f"tag{encver}", *batching, *CASES["onnx"].names(blob),
                     blob, chunk_size=100),
        ("AI.MODELSTORE", "*", "ONNX", "CPU", "TAG", f"tag{encver}", "BATCHSIZE", batching[0],
         "MINBATCHSIZE", batching[1], "MINBATCHTIMEOUT", batching[2], "BLOB", blob))
    if encver >= 3:
        script = script_layout(encver, "CPU", f"tag{encver}", SOURCE, ["twice"])
        now = ("AI.SCRIPTSTORE", "*", "CPU", "TAG", f"tag{encver}", "ENTRY_POINTS", 1, "twice",
               "SOURCE", SOURCE)
    else:
        script = script_layout(encver, "CPU", f"tag{encver}", LEGACY_SOURCE, [])
        now = ("AI.SCRIPTSET", "*", "CPU", "TAG", f"tag{encver}", "SOURCE", LEGACY_SOURCE)
    values[f"v{encver}:script"] = ("AI_SCRIPT", script, now)
    return values


def test_rdb_file_with_every_older_encoding_version_loads(server_factory, blobs):
    """One RDB file, written here, holds the values of versions 0-3; each
    loads as the value today's command stores (equal digests), and the
    models and scripts run."""
    blob = blobs("onnx_mlp")
    values, entries = {}, {}
    for encver in range(4):
        for key, (name, layout, command) in old_values(encver, blob).items():
            values[key] = command
            entries[key] = (name, encver, layout)
    server = server_factory(start=False)
    (server.dir / "dump.rdb").write_bytes(rdb_file(entries, OLD_RDB_VERSION))
    server.start(timeout=120)                   # rebuilds the models: imports
    assert "DB loaded from disk" in server.log()
    client = server.client()
    assert sorted(client.keys()) == sorted(key.encode() for key in values)
    for key, command in values.items():
        assert client.execute_command(*[f"now:{key}" if a == "*" else a for a in command]) == b"OK"
        assert digest(client, key) == digest(client, f"now:{key}"), key
    rng = np.random.default_rng(0)
    tensorset(client, "in", np.ones((2, 2), np.float32))
    for encver in range(4):
        CASES["onnx"].execute_and_compare(client, f"v{encver}:model", blobs, rng)
        run = ("AI.SCRIPTEXECUTE", f"v{encver}:script", "twice", "INPUTS", 1, "in",
               "OUTPUTS", 1, "out") if encver >= 3 else \
            ("AI.SCRIPTRUN", f"v{encver}:script", "twice", "INPUTS", "in", "OUTPUTS", "out")
        assert client.execute_command(*run) == b"OK"
        np.testing.assert_array_equal(tensorget(client, "out"), np.full((2, 2), 2, np.float32))
    print(f"\nolder layouts: {len(values)} values of versions 0-3 loaded from an RDB file")
