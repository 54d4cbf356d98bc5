"""Models across DEBUG RELOAD, DUMP/RESTORE, RENAME, RDB, AOF, replication
and BGSAVE (persistence-replication-cluster.md): every backend comes back
with its metadata and blob unchanged and runs as its framework does.
(tests/test_persistence.py covers the same for tensors.)"""
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import models
from conftest import wait_info, wait_until
from models import (CASES, MODEL_EMPTY, assert_alive, assert_results, info, meta, mlp_inputs,
                    modelexecute, store, tensorget, tensorset, wait_blocked, zero_stats)
from test_tensor import error_reply

pytestmark = models.IGNORE_TORCH_JIT_DEPRECATION


PERSISTED = {"onnx": ("cpu", "TAG", "t1", "BATCHSIZE", 4, "MINBATCHSIZE", 2,
                      "MINBATCHTIMEOUT", 7),
             "torch": ("CPU:1", "TAG", "t2"), "tf": ("CPU", "BATCHSIZE", 3), "tflite": ("CPU",)}


def store_cases(r, blobs, names=PERSISTED):
    """One model per backend under its case name, with options, and its META."""
    for name in names:
        device, *options = PERSISTED[name]
        assert CASES[name].store(r, name, blobs, *options, device=device) == b"OK"
    return {name: meta(r, name) for name in names}


def assert_cases(r, blobs, metas):
    """The models of store_cases are all there, unchanged, and run."""
    rng = np.random.default_rng(7)
    for name, expected in metas.items():
        assert meta(r, name) == expected
        assert r.execute_command("AI.MODELGET", name, "BLOB") == CASES[name].blob(blobs)
        CASES[name].execute_and_compare(r, name, blobs, rng, prefix=name)


def test_debug_reload_keeps_every_backend(r, blobs):
    metas = store_cases(r, blobs)
    assert r.execute_command("DEBUG", "RELOAD") == b"OK"
    for name in metas:              # the models were rebuilt: fresh statistics
        device, *options = PERSISTED[name]
        tag = dict(zip(options[::2], options[1::2])).get("TAG", "")
        assert info(r, name) == zero_stats(name, CASES[name].backend, device, tag.encode())
    assert_cases(r, blobs, metas)


def test_dump_restore_and_rename(r, blobs):
    metas = store_cases(r, blobs, ["onnx", "torch"])
    for name in metas:
        r.restore(f"{name}:restored", 0, r.dump(name))
        r.rename(name, f"{name}:renamed")
    assert info(r, "onnx:restored") == zero_stats("onnx:restored", "ONNX", "cpu", b"t1")
    rng = np.random.default_rng(0)
    for name, expected in metas.items():
        for key in (f"{name}:restored", f"{name}:renamed"):
            assert meta(r, key) == expected
            CASES[name].execute_and_compare(r, key, blobs, rng)


def test_copy(r, blobs):
    """COPY (beyond the reference): the copy shares the session, has statistics
    of its own, and outlives the original."""
    metas = store_cases(r, blobs, ["onnx", "torch"])
    rng = np.random.default_rng(0)
    for name, expected in metas.items():
        assert r.copy(name, f"{name}:copy") == 1
        assert meta(r, f"{name}:copy") == expected
        CASES[name].execute_and_compare(r, f"{name}:copy", blobs, rng)
        assert info(r, name)["calls"] == 0 and info(r, f"{name}:copy")["calls"] == 1
        r.delete(name)
        CASES[name].execute_and_compare(r, f"{name}:copy", blobs, rng)
    assert r.execute_command("DEBUG", "RELOAD") == b"OK"
    for name, expected in metas.items():
        assert meta(r, f"{name}:copy") == expected


def test_rdb_restart_with_chunked_blobs(server_factory, blobs):
    server = server_factory()
    client = server.client()
    metas = store_cases(client, blobs)
    # The RDB is written with blobs in chunks.
    assert client.execute_command("AI.CONFIG", "MODEL_CHUNK_SIZE", 1000) == b"OK"
    server.restart(save=True)
    assert_cases(server.client(), blobs, metas)


def test_aof_restart_and_rewrite(server_factory, blobs):
    server = server_factory(config=["--appendonly", "yes", "--aof-use-rdb-preamble", "no"])
    client = server.client()
    metas = store_cases(client, blobs)
    mlp_in = mlp_inputs(np.random.default_rng(9))
    tensorset(client, "x", mlp_in[0])
    tensorset(client, "z", mlp_in[1])
    assert modelexecute(client, "onnx", ["x", "z"], ["y", "h"]) == b"OK"
    outputs = [tensorget(client, "y"), tensorget(client, "h")]
    # The execution is logged as the TENSORSETs of its outputs, not replayed.
    def log():      # written by the server a little after the reply (appendfsync everysec)
        return b"".join(p.read_bytes() for p in (server.dir / "appendonlydir").glob("*.incr.aof"))
    wait_until(lambda: log().count(b"AI.TENSORSET") >= 4, "the AOF written", 10)
    assert log().count(b"AI.TENSORSET") == 4 and log().count(b"AI.MODELSTORE") == len(metas)
    assert b"AI.MODELEXECUTE" not in log().upper()

    def check():
        client = server.client()
        assert_cases(client, blobs, metas)
        assert_results([tensorget(client, "y"), tensorget(client, "h")], outputs)
        return client

    server.restart()
    client = check()
    assert client.execute_command("AI.CONFIG", "MODEL_CHUNK_SIZE", 1000) == b"OK"
    client.bgrewriteaof()
    wait_info(client, "persistence", aof_rewrite_in_progress=0, aof_rewrite_scheduled=0,
             aof_last_bgrewrite_status="ok")
    base = next((server.dir / "appendonlydir").glob("*.base.aof")).read_bytes()
    assert base.count(b"AI.MODELSTORE") == len(metas)
    server.restart()
    check()


def test_modelset_is_logged_as_sent(server_factory, blobs):
    """MODELSET is propagated verbatim: its argument grammar is not MODELSTORE's."""
    server = server_factory(config=["--appendonly", "yes"])
    client = server.client()
    assert store(client, "tf", "TF", blobs("tf_mul"), "INPUTS", "a", "b", "OUTPUTS", "mul",
                 command="AI.MODELSET") == b"OK"
    assert store(client, "onnx", "ONNX", blobs("onnx_mlp"), "INPUTS", "ignored",
                 command="AI.MODELSET") == b"OK"
    metas = {name: meta(client, name) for name in ("tf", "onnx")}
    server.restart()
    assert_cases(server.client(), blobs, metas)


def test_replica_gets_models_and_execution_outputs(server_factory, blobs):
    primary = server_factory(name="primary")
    client = primary.client()
    assert CASES["onnx"].store(client, "before", blobs, "TAG", "sync") == b"OK"   # full sync
    replica = server_factory(name="replica", config=["--replicaof", "127.0.0.1", primary.port])
    replica_client = replica.client()
    wait_info(replica_client, "replication", master_link_status="up")
    assert CASES["torch"].store(client, "after", blobs, device="cpu") == b"OK"    # propagated
    rng = np.random.default_rng(4)
    outputs = {key: CASES[name].execute_and_compare(client, key, blobs, rng, prefix=key)
               for key, name in (("before", "onnx"), ("after", "torch"))}
    assert client.wait(1, 10000) == 1
    for key in outputs:
        assert meta(replica_client, key) == meta(client, key)
        assert replica_client.execute_command("AI.MODELGET", key, "BLOB") == \
            client.execute_command("AI.MODELGET", key, "BLOB")
        for i, expected in enumerate(outputs[key]):
            np.testing.assert_array_equal(tensorget(replica_client, f"{key}out{i}"), expected)
        assert info(replica_client, key)["calls"] == 0      # the replica ran nothing
    assert client.execute_command("AI.MODELDEL", "before") == b"OK"
    assert client.wait(1, 10000) == 1
    assert error_reply(replica_client, "AI.MODELGET", "before") == MODEL_EMPTY


def test_bgsave_while_requests_run(r, shared_server, slow, mlp):
    with ThreadPoolExecutor(4) as pool:
        busy = [pool.submit(slow.run, shared_server.client(), 150) for _ in range(3)]
        busy.append(pool.submit(modelexecute, shared_server.client(), "m", ["x", "z"], ["y", "h"]))
        wait_blocked(r, 2)
        r.bgsave()
        wait_info(r, "persistence", rdb_bgsave_in_progress=0, rdb_last_bgsave_status="ok")
        assert [f.result() for f in busy] == [b"OK"] * 4
    assert_alive(shared_server)
