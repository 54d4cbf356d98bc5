"""Tensors across RDB, AOF, DUMP/RESTORE, COPY/RENAME, replication, fork and
signals (spec/persistence-replication-cluster.md, spec/tensors.md).

Every test compares dtype, shape and data bytes exactly. Servers are cheap to
start (the module does not import any framework at load), so restart-based
tests take one fresh server per dtype; only the fork and signal tests import
torch and onnxruntime, because their threads are what makes fork() risky.
"""
import os
import signal
from typing import NamedTuple

import numpy as np
import pytest
import redis

from conftest import wait_info, wait_until
from rdb import DLPACK, make_dump, parse_dump, tensor_layout

TIMEOUT = 30    # seconds for anything asynchronous: fork children, replication, shutdown


# --- tensors --------------------------------------------------------------------------------

class Tensor(NamedTuple):
    dtype: str
    shape: tuple
    blob: bytes


NUMPY_TYPES = {"FLOAT": np.float32, "DOUBLE": np.float64, "INT8": np.int8, "INT16": np.int16,
               "INT32": np.int32, "INT64": np.int64, "UINT8": np.uint8, "UINT16": np.uint16}
DTYPES = [*NUMPY_TYPES, "BOOL", "STRING"]
SHAPES = {"scalar": (), "vector": (3,), "cube": (2, 3, 2), "large": (64, 128)}


def make_blob(dtype, shape, seed=0):
    """Deterministic data covering the whole value range of the dtype: negative
    numbers, -0.0/inf/nan bit patterns, non-UTF-8 and empty strings."""
    rng = np.random.default_rng([seed, DTYPES.index(dtype), len(shape), *shape])
    count = int(np.prod(shape, dtype=np.int64))
    if dtype == "STRING":
        return b"".join(rng.integers(1, 256, rng.integers(0, 9), dtype=np.uint8).tobytes() + b"\0"
                        for _ in range(count))
    if dtype == "BOOL":
        return rng.integers(0, 2, count, dtype=np.uint8).tobytes()
    np_type = NUMPY_TYPES[dtype]
    if dtype in ("FLOAT", "DOUBLE"):
        values = rng.normal(0, 1e6, count)
        values[:3] = [-0.0, np.inf, np.nan][:count]
        return values.astype(np_type).tobytes()
    info = np.iinfo(np_type)
    return rng.integers(info.min, info.max, count, dtype=np_type, endpoint=True).tobytes()


def make_tensor(dtype, shape, seed=0):
    return Tensor(dtype, tuple(shape), make_blob(dtype, shape, seed))


def tensorset(client, key, tensor):
    reply = client.execute_command("AI.TENSORSET", key, tensor.dtype, *tensor.shape,
                                   "BLOB", tensor.blob)
    assert reply == b"OK"


def tensorget(client, key):
    meta = client.execute_command("AI.TENSORGET", key, "META", "BLOB")
    assert meta[0::2] == [b"dtype", b"shape", b"blob"], meta
    return Tensor(meta[1].decode(), tuple(meta[3]), meta[5])


def store_tensors(client, dtypes, seed=0, prefix=""):
    """Stores every shape of each dtype plus an uninitialised tensor (no BLOB,
    all zero bytes); returns {key: Tensor} as it must read back."""
    expected = {}
    for dtype in dtypes:
        for name, shape in SHAPES.items():
            key = f"{prefix}{dtype}:{name}"
            expected[key] = make_tensor(dtype, shape, seed)
            tensorset(client, key, expected[key])
        key = f"{prefix}{dtype}:zeros"
        assert client.execute_command("AI.TENSORSET", key, dtype, 2, 2) == b"OK"
        # STRING: four empty elements, one NUL each; others: four zero elements.
        expected[key] = Tensor(dtype, (2, 2), bytes(4 * DLPACK[dtype][1] // 8))
    return expected


def assert_tensors(client, expected):
    """The keyspace holds exactly `expected`, each an AI_TENSOR."""
    assert sorted(client.keys()) == sorted(k.encode() for k in expected)
    for key, tensor in expected.items():
        assert client.type(key) == b"AI_TENSOR", key
        assert tensorget(client, key) == tensor, key


def case_id(dtype_shape):
    return f"{dtype_shape[0]}-{dtype_shape[1]}"


CASES = [(dtype, shape) for dtype in DTYPES for shape in SHAPES]


def wait_bgsave(client):
    info = wait_info(client, "persistence", rdb_bgsave_in_progress=0)
    assert info["rdb_last_bgsave_status"] == "ok"


def wait_aof_rewrite(client):
    info = wait_info(client, "persistence", aof_rewrite_in_progress=0, aof_rewrite_scheduled=0)
    assert info["aof_last_bgrewrite_status"] == "ok"


def load_backends(client):
    """Imports torch and onnxruntime inside the server: their thread pools are
    what a fork() must survive."""
    for backend, library in (("TORCH", "torch"), ("ONNX", "onnxruntime")):
        path = f"redisai_{library}/redisai_{library}.so"
        assert client.execute_command("AI.CONFIG", "LOADBACKEND", backend, path) == b"OK"


# --- RDB --------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_rdb_restart_keeps_tensors(server_factory, dtype):
    server = server_factory()
    expected = store_tensors(server.client(), [dtype])
    assert server.client().save()
    server.restart(save=False)        # loads the dump.rdb written by SAVE
    assert "DB loaded from disk" in server.log()
    assert_tensors(server.client(), expected)


def test_rdb_written_at_shutdown_keeps_tensors(server_factory):
    server = server_factory()
    expected = store_tensors(server.client(), DTYPES)
    server.restart(save=True)         # SHUTDOWN SAVE
    assert (server.dir / "dump.rdb").exists()
    assert_tensors(server.client(), expected)


@pytest.fixture
def uncompressed(r):
    """DUMP payloads without LZF, so that the test can read them."""
    r.config_set("rdbcompression", "no")
    yield r
    r.config_set("rdbcompression", "yes")


@pytest.mark.parametrize("dtype", DTYPES)
def test_debug_reload_keeps_tensors(r, dtype):
    expected = store_tensors(r, [dtype])
    assert r.execute_command("DEBUG", "RELOAD") == b"OK"
    assert_tensors(r, expected)


@pytest.mark.parametrize("dtype, shape", CASES, ids=map(case_id, CASES))
def test_type_and_debug_object(uncompressed, dtype, shape):
    r = uncompressed
    tensorset(r, "t", make_tensor(dtype, SHAPES[shape]))
    assert r.type("t") == b"AI_TENSOR"
    debug = r.execute_command("DEBUG", "OBJECT", "t")
    fields = dict(item.split(b":", 1) for item in debug.split()[2:])
    # serializedlength is the value's RDB size: the DUMP payload less its type
    # byte and its 10-byte footer.
    assert int(fields[b"serializedlength"]) == len(r.dump("t")) - 11


# --- DUMP / RESTORE and the RDB encoding ------------------------------------------------------

@pytest.mark.parametrize("dtype, shape", CASES, ids=map(case_id, CASES))
def test_dump_restore_round_trip(r, dtype, shape):
    tensor = make_tensor(dtype, SHAPES[shape])
    tensorset(r, "t", tensor)
    assert r.restore("restored", 0, r.dump("t")) == b"OK"
    assert tensorget(r, "restored") == tensor == tensorget(r, "t")
    assert r.type("restored") == b"AI_TENSOR"


@pytest.mark.parametrize("dtype, shape", CASES, ids=map(case_id, CASES))
def test_dump_uses_encoding_version_4_layout(uncompressed, dtype, shape):
    r = uncompressed
    tensor = make_tensor(dtype, SHAPES[shape])
    tensorset(r, "t", tensor)
    name, encver, values = parse_dump(r.dump("t"))
    assert (name, encver) == ("AI_TENSOR", 4)
    assert values == tensor_layout(4, *tensor)


@pytest.mark.parametrize("encver", [0, 1, 2, 3])
@pytest.mark.parametrize("dtype", [*NUMPY_TYPES, "BOOL"])
def test_restore_of_older_encoding_versions(r, encver, dtype):
    """Versions 0-3 store a DLPack header: device, device id, bits before code,
    lanes, dims, strides, byte offset."""
    r.execute_command("AI.TENSORSET", "probe", "INT8", "VALUES", 1)
    footer = r.dump("probe")[-10:-8]          # this server's RDB version
    for shape in SHAPES.values():
        tensor = make_tensor(dtype, shape)
        payload = make_dump("AI_TENSOR", encver, tensor_layout(encver, *tensor), footer)
        assert r.restore(f"v{encver}:{shape}", 0, payload) == b"OK"
        assert tensorget(r, f"v{encver}:{shape}") == tensor


def test_restore_of_a_newer_encoding_version_fails(r, shared_server):
    r.execute_command("AI.TENSORSET", "probe", "INT8", "VALUES", 1)
    footer = r.dump("probe")[-10:-8]
    payload = make_dump("AI_TENSOR", 5, [0, 8, 1, 1, b"\x01"], footer)
    with pytest.raises(redis.ResponseError, match="Bad data format"):
        r.restore("future", 0, payload)
    assert not r.exists("future")
    assert "Failed loading tensor, RedisAI version (5) is not forward compatible." \
        in shared_server.log()


# --- COPY / RENAME ------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype, shape", CASES, ids=map(case_id, CASES))
def test_copy_keeps_both_tensors(r, dtype, shape):
    tensor = make_tensor(dtype, SHAPES[shape])
    tensorset(r, "t", tensor)
    assert r.copy("t", "copy") == 1
    assert tensorget(r, "copy") == tensor == tensorget(r, "t")
    # The copy is independent: overwriting the source leaves it as it was.
    tensorset(r, "t", make_tensor(dtype, SHAPES[shape], seed=1))
    assert tensorget(r, "copy") == tensor
    r.delete("t")
    assert tensorget(r, "copy") == tensor


def test_copy_to_another_database(r):
    tensor = make_tensor("STRING", (2, 2))
    tensorset(r, "t", tensor)
    assert r.copy("t", "t", destination_db=1) == 1
    r.execute_command("SELECT", 1)
    assert tensorget(r, "t") == tensor


@pytest.mark.parametrize("dtype, shape", CASES, ids=map(case_id, CASES))
def test_rename_keeps_the_tensor(r, dtype, shape):
    tensor = make_tensor(dtype, SHAPES[shape])
    tensorset(r, "t", tensor)
    assert r.rename("t", "renamed")
    assert not r.exists("t")
    assert tensorget(r, "renamed") == tensor
    assert r.type("renamed") == b"AI_TENSOR"


# --- AOF ----------------------------------------------------------------------------------------

def parse_resp_commands(data):
    """The commands of an AOF in RESP form: [[arg, ...], ...]."""
    commands, pos = [], 0
    while pos < len(data):
        assert data[pos:pos + 1] == b"*", f"not a RESP array at {pos}: {data[pos:pos + 20]!r}"
        end = data.index(b"\r\n", pos)
        count, pos = int(data[pos + 1:end]), end + 2
        args = []
        for _ in range(count):
            end = data.index(b"\r\n", pos)
            size, pos = int(data[pos + 1:end]), end + 2
            args.append(data[pos:pos + size])
            pos += size + 2
        commands.append(args)
    return commands


def aof_files(server):
    """{type: [path]} from Redis 7's appendonlydir manifest (b = base, i = incr)."""
    aof_dir = server.dir / "appendonlydir"
    files = {}
    for line in next(aof_dir.glob("*.manifest")).read_text().splitlines():
        fields = dict(zip(line.split()[0::2], line.split()[1::2]))
        files.setdefault(fields["type"], []).append(aof_dir / fields["file"])
    return files


def tensorset_command(key, tensor):
    return [b"AI.TENSORSET", key.encode(), tensor.dtype.encode(),
            *(str(d).encode() for d in tensor.shape), b"BLOB", tensor.blob]


AOF_CONFIG = ["--appendonly", "yes", "--appendfsync", "always"]


@pytest.mark.parametrize("dtype", DTYPES)
def test_aof_replay_and_rewrite_keep_tensors(server_factory, dtype):
    server = server_factory(config=[*AOF_CONFIG, "--aof-use-rdb-preamble", "no"])
    expected = store_tensors(server.client(), [dtype])
    server.restart()
    assert "DB loaded from append only file" in server.log()
    assert not (server.dir / "dump.rdb").exists()
    assert_tensors(server.client(), expected)

    client = server.client()
    assert client.bgrewriteaof()
    wait_aof_rewrite(client)
    [base] = aof_files(server)["b"]
    assert base.name.endswith(".base.aof")
    # The rewrite emits one AI.TENSORSET <key> <TYPE> <dims> BLOB <data> per tensor.
    commands = [c for c in parse_resp_commands(base.read_bytes()) if c[0] != b"SELECT"]
    assert b"AI.TENSORSET" in base.read_bytes()
    assert sorted(commands) == sorted(tensorset_command(k, t) for k, t in expected.items())
    server.restart()
    assert_tensors(server.client(), expected)


def test_aof_rewrite_with_rdb_preamble_keeps_tensors(server_factory):
    server = server_factory(config=AOF_CONFIG)            # aof-use-rdb-preamble yes: the default
    client = server.client()
    expected = store_tensors(client, DTYPES)
    assert client.bgrewriteaof()
    wait_aof_rewrite(client)
    # Written after the rewrite: ends up in the new incremental file.
    later = make_tensor("STRING", (5,), seed=7)
    tensorset(client, "later", later)
    expected["later"] = later
    server.restart()
    assert_tensors(server.client(), expected)


def test_incremental_aof_holds_tensorset_verbatim(server_factory):
    server = server_factory(config=AOF_CONFIG)
    tensor = make_tensor("BOOL", (2, 3))
    tensorset(server.client(), "t", tensor)
    [incr] = aof_files(server)["i"]
    commands = parse_resp_commands(incr.read_bytes())
    assert tensorset_command("t", tensor) in commands


# --- replication --------------------------------------------------------------------------------

REPLICATION_MODES = {
    # name: (primary options, replica options)
    "disk": (["--repl-diskless-sync", "no"], []),
    "diskless": (["--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"], []),
    "diskless-load": (["--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"],
                      ["--repl-diskless-load", "swapdb"]),
}


def attach_replica(server_factory, primary, options=()):
    replica = server_factory(name="replica", config=[*options, "--replicaof", "127.0.0.1",
                                                     str(primary.port)])
    wait_info(replica.client(), "replication", master_link_status="up")
    return replica


def wait_replicated(replica_client, expected):
    def replicated():
        try:
            assert_tensors(replica_client, expected)
            return True
        except (AssertionError, redis.ResponseError):
            return False
    wait_until(replicated, "the replica to hold the primary's tensors")
    assert_tensors(replica_client, expected)


@pytest.mark.parametrize("mode", REPLICATION_MODES)
def test_replica_receives_tensors(server_factory, mode):
    primary_options, replica_options = REPLICATION_MODES[mode]
    primary = server_factory(name="primary", config=primary_options)
    client = primary.client()
    # Stored before the replica attaches: they travel in the full sync.
    expected = store_tensors(client, DTYPES, prefix="before:")
    replica = attach_replica(server_factory, primary, replica_options)
    replica_client = replica.client()
    assert_tensors(replica_client, expected)

    # Stored afterwards: propagated command by command.
    expected.update(store_tensors(client, DTYPES, seed=1, prefix="after:"))
    assert client.wait(1, TIMEOUT * 1000) == 1
    wait_replicated(replica_client, expected)

    # Overwrites and deletions follow too.
    expected["before:FLOAT:scalar"] = make_tensor("FLOAT", (), seed=2)
    tensorset(client, "before:FLOAT:scalar", expected["before:FLOAT:scalar"])
    client.delete("after:STRING:cube")
    del expected["after:STRING:cube"]
    assert client.wait(1, TIMEOUT * 1000) == 1
    wait_replicated(replica_client, expected)


def test_replica_refuses_tensorset(server_factory):
    primary = server_factory(name="primary", config=REPLICATION_MODES["diskless"][0])
    replica = attach_replica(server_factory, primary)
    with pytest.raises(redis.exceptions.ReadOnlyError):
        replica.client().execute_command("AI.TENSORSET", "t", "INT8", "VALUES", 1)


# --- fork after the frameworks started their threads --------------------------------------------

def test_bgsave_after_backends_loaded(server_factory):
    server = server_factory()
    client = server.client()
    load_backends(client)
    expected = store_tensors(client, DTYPES)
    assert client.bgsave()
    wait_bgsave(client)
    server.restart(save=False)                  # from the BGSAVE's dump.rdb
    assert_tensors(server.client(), expected)


def test_bgrewriteaof_after_backends_loaded(server_factory):
    server = server_factory(config=[*AOF_CONFIG, "--aof-use-rdb-preamble", "no"])
    client = server.client()
    load_backends(client)
    expected = store_tensors(client, DTYPES)
    assert client.bgrewriteaof()
    wait_aof_rewrite(client)
    [base] = aof_files(server)["b"]
    assert b"AI.TENSORSET" in base.read_bytes()
    server.restart()
    assert_tensors(server.client(), expected)


def test_full_sync_after_backends_loaded(server_factory):
    primary = server_factory(name="primary", config=REPLICATION_MODES["disk"][0])
    client = primary.client()
    load_backends(client)
    expected = store_tensors(client, ["FLOAT", "STRING", "BOOL"])
    replica = attach_replica(server_factory, primary)
    assert_tensors(replica.client(), expected)


# --- signals ------------------------------------------------------------------------------------

@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_shuts_down_with_a_save(server_factory, signum):
    """The frameworks must not take over SIGTERM/SIGINT from Redis: the server
    still saves (because of `save 900 1`) and exits cleanly."""
    server = server_factory(config=["--save", "900 1"])
    client = server.client()
    load_backends(client)
    expected = store_tensors(client, ["DOUBLE", "STRING"])
    os.kill(server.proc.pid, signum)
    assert server.proc.wait(TIMEOUT) == 0
    log = server.log()
    assert "DB saved on disk" in log
    assert (server.dir / "dump.rdb").exists()
    server.start()
    assert_tensors(server.client(), expected)
