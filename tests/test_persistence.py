"""Tensors across RDB, AOF, DUMP/RESTORE, replication, fork and signals
(spec/persistence-replication-cluster.md)."""
import os
import signal
import time

import numpy as np
import pytest

TENSORS = {
    "f32": ("FLOAT", [2, 3], np.arange(6, dtype=np.float32).tobytes()),
    "f64": ("DOUBLE", [], np.array(2.5).tobytes()),
    "i8": ("INT8", [4], np.array([-1, 0, 1, 127], dtype=np.int8).tobytes()),
    "i64": ("INT64", [1, 1, 2], np.array([-(2**62), 2**62], dtype=np.int64).tobytes()),
    "u16": ("UINT16", [2], np.array([0, 65535], dtype=np.uint16).tobytes()),
    "bool": ("BOOL", [3], bytes([1, 0, 1])),
    "str": ("STRING", [3], b"a\0\0long element\0"),
    "big": ("UINT8", [300000], bytes(range(256)) * 1171 + bytes(224)),   # a kept argument
}


def store_all(client):
    for key, (dtype, shape, blob) in TENSORS.items():
        assert client.execute_command("AI.TENSORSET", key, dtype, *shape, "BLOB", blob) == b"OK"


def assert_all(client):
    for key, (dtype, shape, blob) in TENSORS.items():
        assert client.execute_command("AI.TENSORGET", key, "META", "BLOB") == \
            [b"dtype", dtype.encode(), b"shape", shape, b"blob", blob], key
        assert client.type(key) == b"AI_TENSOR"


def wait_for(client, section, **fields):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        info = client.info(section)
        if all(info.get(k) == v for k, v in fields.items()):
            return info
        time.sleep(0.05)
    raise AssertionError(f"{section} never reached {fields}: {client.info(section)}")


def test_rdb_restart(server_factory):
    server = server_factory()
    store_all(server.client())
    server.restart(save=True)
    assert_all(server.client())


def test_debug_reload(r):
    store_all(r)
    assert r.execute_command("DEBUG", "RELOAD") == b"OK"
    assert_all(r)


def test_aof_restart_and_rewrite(server_factory):
    server = server_factory(config=["--appendonly", "yes"])
    client = server.client()
    store_all(client)
    server.restart()
    assert_all(server.client())
    client = server.client()
    client.bgrewriteaof()
    wait_for(client, "persistence", aof_rewrite_in_progress=0, aof_rewrite_scheduled=0)
    server.restart()
    assert_all(server.client())


def test_aof_rewrite_emits_tensorset(server_factory):
    server = server_factory(config=["--appendonly", "yes", "--aof-use-rdb-preamble", "no"])
    client = server.client()
    store_all(client)
    client.bgrewriteaof()
    wait_for(client, "persistence", aof_rewrite_in_progress=0, aof_rewrite_scheduled=0)
    base = next((server.dir / "appendonlydir").glob("*.base.aof")).read_bytes()
    assert base.count(b"AI.TENSORSET") == len(TENSORS)
    server.restart()
    assert_all(server.client())


def test_dump_restore_copy_rename(r):
    store_all(r)
    for key in TENSORS:
        r.restore(f"{key}:restored", 0, r.dump(key))
        r.copy(key, f"{key}:copy")
        r.rename(key, f"{key}:renamed")
    for suffix in (":restored", ":copy", ":renamed"):
        for key, (dtype, shape, blob) in TENSORS.items():
            assert r.execute_command("AI.TENSORGET", key + suffix, "BLOB") == blob


def test_replica_receives_tensors(server_factory):
    primary = server_factory(name="primary")
    store_all(primary.client())          # before the replica: full sync
    replica = server_factory(name="replica", config=["--replicaof", "127.0.0.1", primary.port])
    wait_for(replica.client(), "replication", master_link_status="up")
    client = primary.client()
    assert client.execute_command("AI.TENSORSET", "later", "INT32", 2, "VALUES", 1, 2) == b"OK"
    assert client.wait(1, 10000) == 1
    assert_all(replica.client())
    assert replica.client().execute_command("AI.TENSORGET", "later", "VALUES") == [1, 2]


@pytest.fixture
def loaded_server(server_factory):
    """A server that imported torch and onnxruntime (so their threads exist)
    before it forks."""
    server = server_factory(config=["--save", "900 1"])
    client = server.client()
    for backend in ("TORCH", "ONNX"):
        assert client.execute_command("AI.CONFIG", "LOADBACKEND", backend, "x") == b"OK"
    store_all(client)
    return server


def test_bgsave_and_bgrewriteaof_after_backends_loaded(loaded_server):
    client = loaded_server.client()
    client.bgsave()
    wait_for(client, "persistence", rdb_bgsave_in_progress=0, rdb_last_bgsave_status="ok")
    client.config_set("appendonly", "yes")         # starts a rewrite
    wait_for(client, "persistence", aof_rewrite_in_progress=0, aof_rewrite_scheduled=0,
             aof_last_bgrewrite_status="ok")
    loaded_server.restart()
    assert_all(loaded_server.client())


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signals_still_shut_redis_down(loaded_server, signum):
    os.kill(loaded_server.proc.pid, signum)
    assert loaded_server.proc.wait(30) == 0
    assert "DB saved on disk" in loaded_server.log()
    loaded_server.start()
    assert_all(loaded_server.client())
