"""Storing, reading and deleting models against the spec: AI.MODELSTORE,
AI.MODELGET, AI.MODELDEL and the deprecated AI.MODELSET (commands.md:
grammar, replies, error tables in check order), backends, devices and
chunking (models-scripts.md).

Every model is built at test time with its real framework (tests/models.py)
and every result is compared with that framework run in this process."""
import os
import shutil
import socket
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from redis.exceptions import ResponseError

import models
from conftest import wait_until
from models import (BY_BACKEND, CASES, DEFAULT_CHUNK_SIZE, MODEL_EMPTY, NO_RUN_INFO, TF_IO,
                    assert_results, info, meta, modelexecute, pairs, resp, store,
                    tensorget, tensorset, wait_blocked, zero_stats)
from test_tensor import ARITY, WRONGTYPE, error_reply, wire_error

HAS_GPU = shutil.which("nvidia-smi") is not None or os.path.exists("/dev/nvidia0")

pytestmark = models.IGNORE_TORCH_JIT_DEPRECATION


# ================================================================ AI.MODELSTORE

@pytest.mark.parametrize("options, expected", [
    ((), {}),
    (("TAG", "my tag"), {"tag": b"my tag"}),
    (("TAG", ""), {}),
    (("BATCHSIZE", 4), {"batchsize": 4}),
    (("BATCHSIZE", 4, "MINBATCHSIZE", 2), {"batchsize": 4, "minbatchsize": 2}),
    (("TAG", "t", "BATCHSIZE", 8, "MINBATCHSIZE", 3, "MINBATCHTIMEOUT", 100),
     {"tag": b"t", "batchsize": 8, "minbatchsize": 3, "minbatchtimeout": 100}),
    (("BATCHSIZE", "2.0", "MINBATCHSIZE", "1e1"), {"batchsize": 2, "minbatchsize": 10}),
    (("MINBATCHSIZE", 0), {}),                        # 0 needs no prerequisite
    (("BATCHSIZE", 0, "MINBATCHSIZE", 0, "MINBATCHTIMEOUT", 0), {}),
    (("tag", "lower", "batchsize", 5), {"tag": b"lower", "batchsize": 5}),
    (("TAG", b"bin\0ary\xff"), {"tag": b"bin\0ary\xff"}),   # a tag is any string
], ids=repr)
def test_modelstore_options_are_returned_by_modelget(r, blobs, options, expected):
    assert store(r, "m", "ONNX", blobs("onnx_mlp"), *options) == b"OK"
    assert meta(r, "m") == {"backend": b"ONNX", "device": b"CPU", "tag": b"", "batchsize": 0,
                            "minbatchsize": 0, "inputs": [b"x", b"z"], "outputs": [b"y", b"h"],
                            "minbatchtimeout": 0, **expected}
    tag = expected.get("tag", b"")
    assert info(r, "m")["tag"] == tag
    assert r.execute_command("AI._MODELSCAN") == [[b"m", tag]]


@pytest.mark.parametrize("device", ["cpu", "CPU", "Cpu", "CPU:", "cpu:1", "CPU:12345"])
def test_device_is_stored_as_typed(r, blobs, device):
    assert store(r, "m", "onnx", blobs("onnx_mlp"), device=device) == b"OK"
    assert meta(r, "m")["device"] == device.encode()
    assert info(r, "m")["device"] == device.encode()
    CASES["onnx"].execute_and_compare(r, "m", blobs, np.random.default_rng(0))


def test_blob_in_several_arguments_is_concatenated(r, blobs):
    blob = blobs("torch_pair")
    third = len(blob) // 3
    chunks = [blob[:third], blob[third:2 * third], blob[2 * third:]]
    assert r.execute_command("AI.MODELSTORE", "m", "TORCH", "CPU", "BLOB", *chunks) == b"OK"
    assert r.execute_command("AI.MODELGET", "m", "BLOB") == blob
    CASES["torch"].execute_and_compare(r, "m", blobs, np.random.default_rng(0))


def _store(*args):
    return ["AI.MODELSTORE", "m", *args]


# Each row may hold several problems: the expected error is the earliest
# check of commands.md's MODELSTORE table.
MODELSTORE_ERRORS = [
    ("arity", _store("ONNX", "CPU", "BLOB"), ARITY.format("AI.MODELSTORE")),
    ("arity as typed", ["ai.modelstore", "m", "ONNX", "CPU", "BLOB"],
     ARITY.format("ai.modelstore")),
    ("backend", _store("XLA", "CPU", "BLOB", "b"), "ERR unsupported backend"),
    ("backend before device", _store("XLA", "XPU", "BLOB", "b"), "ERR unsupported backend"),
    ("device XPU", _store("ONNX", "XPU", "BLOB", "b"), "ERR Invalid DEVICE"),
    ("device id too long", _store("ONNX", "CPU:123456", "BLOB", "b"), "ERR Invalid DEVICE"),
    ("device id not digits", _store("ONNX", "GPU:a", "BLOB", "b"), "ERR Invalid DEVICE"),
    ("device without colon", _store("ONNX", "CPU1", "BLOB", "b"), "ERR Invalid DEVICE"),
    ("device negative id", _store("ONNX", "CPU:-1", "BLOB", "b"), "ERR Invalid DEVICE"),
    ("device empty", _store("TORCH", "", "BLOB", "b"), "ERR Invalid DEVICE"),
    ("device before batchsize", _store("ONNX", "XPU", "BATCHSIZE", "x", "BLOB", "b"),
     "ERR Invalid DEVICE"),
    ("batchsize negative", _store("ONNX", "CPU", "BATCHSIZE", -1, "BLOB", "b"),
     "ERR Invalid argument for BATCHSIZE"),
    ("batchsize text", _store("ONNX", "CPU", "BATCHSIZE", "abc", "BLOB", "b"),
     "ERR Invalid argument for BATCHSIZE"),
    ("batchsize fraction", _store("ONNX", "CPU", "BATCHSIZE", "2.5", "BLOB", "b"),
     "ERR Invalid argument for BATCHSIZE"),
    ("batchsize before minbatchsize",
     _store("ONNX", "CPU", "BATCHSIZE", "x", "MINBATCHSIZE", "y", "BLOB", "b"),
     "ERR Invalid argument for BATCHSIZE"),
    ("minbatchsize invalid", _store("ONNX", "CPU", "BATCHSIZE", 2, "MINBATCHSIZE", -1, "BLOB", "b"),
     "ERR Invalid argument for MINBATCHSIZE"),
    ("minbatchsize value before prerequisite",
     _store("ONNX", "CPU", "MINBATCHSIZE", "x", "BLOB", "b"),
     "ERR Invalid argument for MINBATCHSIZE"),
    ("minbatchsize without batchsize", _store("ONNX", "CPU", "MINBATCHSIZE", 2, "BLOB", "b"),
     "ERR MINBATCHSIZE specified without BATCHSIZE"),
    ("minbatchsize with batchsize 0",
     _store("ONNX", "CPU", "BATCHSIZE", 0, "MINBATCHSIZE", 2, "MINBATCHTIMEOUT", "x", "BLOB", "b"),
     "ERR MINBATCHSIZE specified without BATCHSIZE"),
    ("minbatchtimeout invalid",
     _store("ONNX", "CPU", "BATCHSIZE", 2, "MINBATCHSIZE", 1, "MINBATCHTIMEOUT", -5, "BLOB", "b"),
     "ERR Invalid argument for MINBATCHTIMEOUT"),
    ("minbatchtimeout text", _store("ONNX", "CPU", "MINBATCHTIMEOUT", "abc", "BLOB", "b"),
     "ERR Invalid argument for MINBATCHTIMEOUT"),
    ("minbatchtimeout without minbatchsize",
     _store("ONNX", "CPU", "BATCHSIZE", 2, "MINBATCHTIMEOUT", 10, "BLOB", "b"),
     "ERR MINBATCHTIMEOUT specified without MINBATCHSIZE"),
    ("minbatchtimeout with minbatchsize 0",
     _store("ONNX", "CPU", "BATCHSIZE", 2, "MINBATCHSIZE", 0, "MINBATCHTIMEOUT", 10, "BLOB", "b"),
     "ERR MINBATCHTIMEOUT specified without MINBATCHSIZE"),
    ("nothing after options", _store("ONNX", "CPU", "TAG", "t"),
     "ERR Insufficient arguments, missing model BLOB"),
    ("TF: nothing after options", _store("TF", "CPU", "TAG", "t"),
     "ERR Insufficient arguments, missing model BLOB"),
    ("TF without INPUTS", _store("TF", "CPU", "BLOB", "b"), "ERR INPUTS not specified for TF"),
    ("TF with OUTPUTS first", _store("TF", "CPU", "OUTPUTS", 1, "mul", "BLOB", "b"),
     "ERR INPUTS not specified for TF"),
    ("TF input count 0", _store("TF", "CPU", "INPUTS", 0, "OUTPUTS", 1, "mul", "BLOB", "b"),
     "ERR Invalid argument for input_count"),
    ("TF input count text",
     _store("TF", "CPU", "INPUTS", "a", "b", "OUTPUTS", 1, "mul", "BLOB", "b"),
     "ERR Invalid argument for input_count"),
    ("TF input count negative", _store("TF", "CPU", "INPUTS", -2, "a", "b", "BLOB", "b"),
     "ERR Invalid argument for input_count"),
    ("TF too few input names", _store("TF", "CPU", "INPUTS", 3, "a", "b"),
     "ERR number of model inputs does not match the number of given arguments"),
    ("TF BLOB instead of OUTPUTS", _store("TF", "CPU", "INPUTS", 2, "a", "b", "BLOB", "b"),
     "ERR OUTPUTS not specified for TF"),
    ("TF nothing after inputs", _store("TF", "CPU", "INPUTS", 2, "a", "b"),
     "ERR OUTPUTS not specified for TF"),
    ("TF more names than count", _store("TF", "CPU", "INPUTS", 1, "a", "b", "OUTPUTS", 1, "mul",
                                        "BLOB", "b"),
     "ERR OUTPUTS not specified for TF"),
    ("TF output count 0",
     _store("TF", "CPU", "INPUTS", 2, "a", "b", "OUTPUTS", 0, "mul", "BLOB", "b"),
     "ERR Invalid argument for output_count"),
    ("TF output count text",
     _store("TF", "CPU", "INPUTS", 2, "a", "b", "OUTPUTS", "mul", "BLOB", "b"),
     "ERR Invalid argument for output_count"),
    ("TF too few output names", _store("TF", "CPU", "INPUTS", 2, "a", "b", "OUTPUTS", 2, "mul"),
     "ERR number of model outputs does not match the number of given arguments"),
    ("INPUTS for ONNX", _store("ONNX", "CPU", "INPUTS", 1, "x", "BLOB", "b"),
     "ERR INPUTS argument should not be specified for this backend"),
    ("INPUTS for TORCH", _store("TORCH", "CPU", "TAG", "t", "inputs", 1, "x", "BLOB", "b"),
     "ERR INPUTS argument should not be specified for this backend"),
    ("INPUTS for TFLITE", _store("TFLITE", "CPU", "INPUTS", 1, "x", "OUTPUTS", 1, "y", "BLOB", "b"),
     "ERR INPUTS argument should not be specified for this backend"),
    ("OUTPUTS for ONNX", _store("ONNX", "CPU", "OUTPUTS", 1, "y", "BLOB", "b"),
     "ERR Invalid argument, expected BLOB"),
    ("TF nothing after outputs", _store("TF", "CPU", *TF_IO),
     "ERR Invalid argument, expected BLOB"),
    ("TF unknown token after outputs", _store("TF", "CPU", *TF_IO, "FOO", "b"),
     "ERR Invalid argument, expected BLOB"),
    ("clauses out of order", _store("ONNX", "CPU", "BATCHSIZE", 2, "TAG", "t", "BLOB", "b"),
     "ERR Invalid argument, expected BLOB"),
    ("unknown token", _store("ONNX", "CPU", "FOO", "BLOB", "b"),
     "ERR Invalid argument, expected BLOB"),
    ("nothing after BLOB", _store("ONNX", "CPU", "TAG", "t", "BLOB"),
     "ERR Insufficient arguments, missing model BLOB"),
    ("TF nothing after BLOB", _store("TF", "CPU", *TF_IO, "BLOB"),
     "ERR Insufficient arguments, missing model BLOB"),
]


@pytest.mark.parametrize("argv, expected", [row[1:] for row in MODELSTORE_ERRORS],
                         ids=[row[0] for row in MODELSTORE_ERRORS])
def test_modelstore_errors(r, argv, expected):
    assert error_reply(r, *argv) == expected
    assert not r.exists("m")


@pytest.mark.parametrize("declared, expected", [
    (("INPUTS", 2, "a", "nope", "OUTPUTS", 1, "mul"),
     'ERR Input node named "nope" not found in TF graph.'),
    (("INPUTS", 2, "a", "b", "OUTPUTS", 1, "nope"),
     'ERR Output node named "nope" not found in TF graph'),
])
def test_tf_node_names_must_exist(r, blobs, declared, expected):
    assert error_reply(r, "AI.MODELSTORE", "m", "TF", "CPU", *declared,
                       "BLOB", blobs("tf_mul")) == expected


def test_tf_invalid_graphdef(r):
    error = error_reply(r, "AI.MODELSTORE", "m", "TF", "CPU", *TF_IO, "BLOB", b"\xff" * 64)
    assert "Invalid GraphDef" in error


@pytest.mark.skipif(HAS_GPU, reason="a GPU is present: GPU models would load")
@pytest.mark.parametrize("backend, device, expected", [
    ("ONNX", "GPU", "ERR GPU requested but ONNX couldn't find CUDA"),
    ("ONNX", "gpu:1", "ERR GPU requested but ONNX couldn't find CUDA"),
    ("TORCH", "GPU:0", "GPU requested but Torch couldn't find CUDA"),
    ("TF", "GPU", "ERR GPU requested but TF couldn't find CUDA"),
])
def test_gpu_device_without_cuda(r, blobs, backend, device, expected):
    with pytest.raises(ResponseError) as exc:
        BY_BACKEND[backend].store(r, "m", blobs, device=device)
    assert wire_error(exc.value) == expected
    assert not r.exists("m")


@pytest.mark.skipif(HAS_GPU, reason="a GPU is present")
def test_tflite_cpu_build_runs_gpu_models_on_the_cpu(r, blobs):
    assert CASES["tflite"].store(r, "m", blobs, device="GPU") == b"OK"
    assert meta(r, "m")["device"] == b"GPU"
    CASES["tflite"].execute_and_compare(r, "m", blobs, np.random.default_rng(0))


def test_backend_that_cannot_be_loaded(server_factory, blobs, tmp_path):
    """A framework that fails to import: MODELSTORE replies the load error;
    parse errors still come first."""
    (tmp_path / "onnxruntime").mkdir()
    (tmp_path / "onnxruntime" / "__init__.py").write_text("raise ImportError('shadowed')\n")
    client = server_factory().client()
    with pytest.raises(ResponseError):      # puts the shadow first on the import path
        client.execute_command("AI.CONFIG", "LOADBACKEND", "ONNX", str(tmp_path))
    assert error_reply(client, "AI.MODELSTORE", "m", "ONNX", "CPU", "INPUTS", 1, "x", "BLOB", "b") \
        == "ERR INPUTS argument should not be specified for this backend"
    assert error_reply(client, "AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB",
                       blobs("onnx_mlp")).startswith("ERR Could not load backend")
    assert not client.exists("m")


def test_wrongtype_is_checked_after_the_model_is_built(r, blobs):
    r.set("k", "a string")
    assert error_reply(r, "AI.MODELSTORE", "k", "ONNX", "XPU", "BLOB", b"x") == "ERR Invalid DEVICE"
    assert error_reply(r, "AI.MODELSTORE", "k", "ONNX", "CPU", "BLOB", b"x") != WRONGTYPE
    assert error_reply(r, "AI.MODELSTORE", "k", "ONNX", "CPU", "BLOB", blobs("onnx_mlp")) \
        == WRONGTYPE
    assert r.get("k") == b"a string"
    assert error_reply(r, "AI.INFO", "k") == NO_RUN_INFO


def test_failed_overwrite_keeps_the_model_and_its_stats(r, blobs, mlp):
    assert modelexecute(r, "m", ["x", "z"], ["y", "h"]) == b"OK"
    before = info(r, "m")
    with pytest.raises(ResponseError):
        store(r, "m", "TORCH", b"not a model", "TAG", "v2")
    assert info(r, "m") == before
    assert meta(r, "m")["backend"] == b"ONNX"
    assert r.execute_command("AI.MODELGET", "m", "BLOB") == blobs("onnx_mlp")


def test_overwrite_replaces_the_model_and_resets_stats(r, blobs, mlp):
    assert modelexecute(r, "m", ["x", "z"], ["y", "h"]) == b"OK"
    assert info(r, "m")["calls"] == 1
    assert CASES["torch"].store(r, "m", blobs, "TAG", "v2") == b"OK"
    assert info(r, "m") == zero_stats("m", "TORCH", tag=b"v2")
    assert meta(r, "m")["backend"] == b"TORCH"
    assert r.execute_command("AI.MODELGET", "m", "BLOB") == blobs("torch_pair")
    CASES["torch"].execute_and_compare(r, "m", blobs, np.random.default_rng(0))


def test_modelstore_inside_multi_and_lua(r, blobs):
    """Storing is allowed where a client cannot block (built on the main thread)."""
    pipe = r.pipeline(transaction=True)
    pipe.execute_command("AI.MODELSTORE", "m1", "ONNX", "CPU", "BLOB", blobs("onnx_mlp"))
    pipe.execute_command("AI.MODELGET", "m1", "META")
    stored, got = pipe.execute()
    assert stored == b"OK" and pairs(got)["outputs"] == [b"y", b"h"]
    assert r.eval("return redis.call('AI.MODELSTORE', KEYS[1], 'TORCH', 'CPU', 'BLOB', ARGV[1])",
                  1, "m2", blobs("torch_pair")) == b"OK"
    rng = np.random.default_rng(0)
    CASES["onnx"].execute_and_compare(r, "m1", blobs, rng)
    CASES["torch"].execute_and_compare(r, "m2", blobs, rng)


def test_large_model(r, blobs, chunk_size):
    """A 32 MiB model: uploaded in chunks, returned and reloaded intact."""
    blob = blobs("onnx_large")
    pieces = [blob[i:i + (8 << 20)] for i in range(0, len(blob), 8 << 20)]
    assert r.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", *pieces) == b"OK"
    assert r.execute_command("AI.MODELGET", "m", "BLOB") == blob
    x = np.random.default_rng(0).standard_normal((3, 2048)).astype(np.float32)
    tensorset(r, "x", x)
    assert modelexecute(r, "m", ["x"], ["y"]) == b"OK"
    assert_results([tensorget(r, "y")], models.onnx_run(blob, x))
    chunk_size(10 << 20)
    assert r.execute_command("DEBUG", "RELOAD") == b"OK"
    assert b"".join(r.execute_command("AI.MODELGET", "m", "BLOB")) == blob
    assert modelexecute(r, "m", ["x"], ["y2"]) == b"OK"
    np.testing.assert_array_equal(tensorget(r, "y2"), tensorget(r, "y"))


def test_memory_usage_covers_the_blob(r, blobs):
    for key, case in (("m1", CASES["onnx"]), ("m2", CASES["torch"])):
        assert case.store(r, key, blobs) == b"OK"
        assert r.memory_usage(key) >= len(case.blob(blobs))


def test_onnx_external_data_is_refused(r, shared_server, blobs):
    """Models must be self-contained: the weights file exists in the server's
    working directory and would load, but the model is refused."""
    blob, weights = blobs("onnx_external_weights", "weights.bin")
    (shared_server.dir / "weights.bin").write_bytes(weights)
    assert "Initializer tensors with external data is not allowed." in \
        error_reply(r, "AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", blob)
    assert not r.exists("m")


def test_modelstore_takes_effect_when_the_client_disconnects(r, shared_server, blobs, slow):
    """Like any write command, a MODELSTORE the server accepted is applied even
    if its client leaves before the reply (here while the CPU queue is busy)."""
    command = resp("AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", blobs("onnx_mlp"))
    with ThreadPoolExecutor(1) as pool:
        busy = pool.submit(slow.run, shared_server.client(), 300)
        wait_blocked(r, 1)
        with socket.create_connection(("127.0.0.1", shared_server.port)) as sock:
            sock.sendall(command)
            wait_blocked(r, 2)          # the store waits behind the slow run
        assert busy.result() == b"OK"
    wait_until(lambda: r.exists("m"), "the model stored", 5)
    CASES["onnx"].execute_and_compare(r, "m", blobs, np.random.default_rng(0))


# ================================================================ AI.MODELGET

@pytest.mark.parametrize("args, form", [
    ((), "meta+blob"), (("META", "BLOB"), "meta+blob"), (("BLOB", "META"), "meta+blob"),
    (("FOO",), "meta+blob"), (("FOO", "BAR"), "meta+blob"), (("META",), "meta"),
    (("meta", "FOO"), "meta"), (("META", "META"), "meta"), (("BLOB",), "blob"),
    (("blob", "BLOB"), "blob"),
])
def test_modelget_forms(r, blobs, args, form):
    blob = blobs("onnx_mlp")
    assert store(r, "m", "ONNX", blob, "TAG", "t") == b"OK"
    reply = r.execute_command("AI.MODELGET", "m", *args)
    expected_meta = [b"backend", b"ONNX", b"device", b"CPU", b"tag", b"t", b"batchsize", 0,
                     b"minbatchsize", 0, b"inputs", [b"x", b"z"], b"outputs", [b"y", b"h"],
                     b"minbatchtimeout", 0]
    expected = {"meta+blob": [*expected_meta, b"blob", blob], "meta": expected_meta,
                "blob": blob}[form]
    assert reply == expected


@pytest.mark.parametrize("name", CASES)
def test_modelget_names_per_backend(r, blobs, name):
    case = CASES[name]
    assert case.store(r, "m", blobs) == b"OK"
    inputs, outputs = case.names(case.blob(blobs))
    got = meta(r, "m")
    assert got["backend"] == case.backend.encode()
    assert got["inputs"] == [n.encode() for n in inputs]
    assert got["outputs"] == [n.encode() for n in outputs]


@pytest.mark.parametrize("size_of, chunks", [
    (lambda n: n // 3, 4),              # 4 chunks: 3 full ones and the remainder
    (lambda n: n, 2),                   # exact multiple: a trailing empty chunk
    (lambda n: n - 1, 2),
    (lambda n: n + 1, 1),               # fits: a plain bulk string
    (lambda n: DEFAULT_CHUNK_SIZE, 1),
    (lambda n: 1, None),                # one byte per chunk, then an empty one
], ids=["len//3", "len", "len-1", "len+1", "default", "1"])
def test_modelget_blob_chunking(r, blobs, chunk_size, size_of, chunks):
    blob = blobs("torch_pair")
    assert store(r, "m", "TORCH", blob) == b"OK"
    size = size_of(len(blob))
    chunks = chunks or len(blob) + 1
    chunk_size(size)
    for reply in (r.execute_command("AI.MODELGET", "m", "BLOB"),
                  pairs(r.execute_command("AI.MODELGET", "m"))["blob"]):
        if chunks == 1:
            assert reply == blob
            continue
        assert len(reply) == chunks and b"".join(reply) == blob
        assert [len(c) for c in reply[:-1]] == [size] * (chunks - 1)
        assert len(reply[-1]) == len(blob) % size


@pytest.mark.parametrize("argv, expected", [
    (["AI.MODELGET"], ARITY.format("AI.MODELGET")),
    (["ai.modelget"], ARITY.format("ai.modelget")),
    (["AI.MODELGET", "m", "META", "BLOB", "META"], ARITY.format("AI.MODELGET")),
    (["AI.MODELGET", "nope"], MODEL_EMPTY),
    (["AI.MODELGET", "nope", "META"], MODEL_EMPTY),
    (["AI.MODELGET", "str", "META"], WRONGTYPE),
    (["AI.MODELGET", "tensor"], WRONGTYPE),
])
def test_modelget_errors(r, argv, expected):
    r.set("str", "v")
    r.execute_command("AI.TENSORSET", "tensor", "FLOAT", 1, "VALUES", 1)
    assert error_reply(r, *argv) == expected


# ================================================================ AI.MODELDEL

def test_modeldel(r, blobs, mlp):
    assert r.execute_command("AI.MODELDEL", "m") == b"OK"
    assert not r.exists("m")
    assert error_reply(r, "AI.MODELGET", "m") == MODEL_EMPTY
    assert error_reply(r, "AI.INFO", "m") == NO_RUN_INFO
    assert r.execute_command("AI._MODELSCAN") == []
    assert error_reply(r, "AI.MODELEXECUTE", "m", "INPUTS", 2, "x", "z", "OUTPUTS", 2, "y", "h") \
        == MODEL_EMPTY


@pytest.mark.parametrize("argv, expected", [
    (["AI.MODELDEL"], ARITY.format("AI.MODELDEL")),
    (["AI.MODELDEL", "m", "extra"], ARITY.format("AI.MODELDEL")),
    (["ai.modeldel"], ARITY.format("ai.modeldel")),
    (["AI.MODELDEL", "nope"], MODEL_EMPTY),
    (["AI.MODELDEL", "str"], WRONGTYPE),
    (["AI.MODELDEL", "x"], WRONGTYPE),
])
def test_modeldel_errors(r, mlp, argv, expected):
    r.set("str", "v")
    assert error_reply(r, *argv) == expected
    assert r.exists("m", "str", "x") == 3


# ================================================================ deprecated AI.MODELSET

@pytest.mark.parametrize("name, declared", [
    ("onnx", ()),
    ("onnx", ("INPUTS", "foo", "OUTPUTS", "bar")),       # ignored for non-TF backends
    ("torch", ("TAG", "t", "BATCHSIZE", 4, "MINBATCHSIZE", 2, "MINBATCHTIMEOUT", 9)),
    ("tf", ("INPUTS", "a", "b", "OUTPUTS", "mul")),
    ("tflite", ("TAG", "lite")),
])
def test_modelset_stores_like_modelstore(r, blobs, name, declared):
    case = CASES[name]
    blob = case.blob(blobs)
    assert store(r, "old", case.backend, blob, *declared, command="AI.MODELSET") == b"OK"
    options = [a for a in declared[:declared.index("INPUTS")]] if "INPUTS" in declared \
        else list(declared)
    assert case.store(r, "new", blobs, *options) == b"OK"
    assert meta(r, "old") == meta(r, "new")
    assert r.execute_command("AI.MODELGET", "old", "BLOB") == blob
    assert info(r, "old") == {**info(r, "new"), "key": b"old"}
    case.execute_and_compare(r, "old", blobs, np.random.default_rng(0))


def _set(*args):
    return ["AI.MODELSET", "m", *args]


MODELSET_ERRORS = [
    ("arity", ["AI.MODELSET", "m", "ONNX"], ARITY.format("AI.MODELSET")),
    ("backend", _set("XLA", "CPU", "BLOB", "b"), "ERR unsupported backend"),
    ("device too long", _set("ONNX", "CPUCPUCPUCPU", "BLOB", "b"), "ERR Invalid DEVICE"),
    ("device is a keyword", _set("ONNX", "BLOB", "b"), "ERR Invalid DEVICE"),
    ("device is TAG", _set("ONNX", "TAG", "t", "BLOB", "b"), "ERR Invalid DEVICE"),
    ("TFLITE batching", _set("TFLITE", "CPU", "BATCHSIZE", 2, "BLOB", "b"),
     "ERR Auto-batching not supported by the TFLITE backend"),
    ("batchsize", _set("ONNX", "CPU", "BATCHSIZE", "x", "BLOB", "b"),
     "ERR Invalid argument for BATCHSIZE"),
    ("minbatchsize without batchsize, before its value",
     _set("ONNX", "CPU", "MINBATCHSIZE", "x", "BLOB", "b"),
     "ERR MINBATCHSIZE specified without BATCHSIZE"),
    ("minbatchsize value", _set("ONNX", "CPU", "BATCHSIZE", 2, "MINBATCHSIZE", "x", "BLOB", "b"),
     "ERR Invalid argument for MINBATCHSIZE"),
    ("minbatchtimeout without batchsize", _set("ONNX", "CPU", "MINBATCHTIMEOUT", 5, "BLOB", "b"),
     "ERR MINBATCHTIMEOUT specified without BATCHSIZE"),
    ("minbatchtimeout without minbatchsize",
     _set("ONNX", "CPU", "BATCHSIZE", 2, "MINBATCHTIMEOUT", 5, "BLOB", "b"),
     "ERR MINBATCHTIMEOUT specified without MINBATCHSIZE"),
    ("minbatchtimeout value",
     _set("ONNX", "CPU", "BATCHSIZE", 2, "MINBATCHSIZE", 1, "MINBATCHTIMEOUT", "x", "BLOB", "b"),
     "ERR Invalid argument for MINBATCHTIMEOUT"),
    ("nothing after options", _set("ONNX", "CPU", "TAG", "t"),
     "ERR Insufficient arguments, missing model BLOB"),
    ("TF without names", _set("TF", "CPU", "BLOB", "b"),
     "ERR Insufficient arguments, INPUTS and OUTPUTS not specified"),
    ("TF without INPUTS", _set("TF", "CPU", "OUTPUTS", "mul", "BLOB", "b"),
     "ERR INPUTS not specified"),
    ("TF without OUTPUTS", _set("TF", "CPU", "INPUTS", "a", "b", "BLOB", "b"),
     "ERR OUTPUTS not specified"),
    ("no BLOB", _set("ONNX", "CPU", "FOO", "bar"),
     "ERR Insufficient arguments, missing model BLOB"),
    ("nothing after BLOB", _set("ONNX", "CPU", "BLOB"),
     "ERR Insufficient arguments, missing model BLOB"),
]


@pytest.mark.parametrize("argv, expected", [row[1:] for row in MODELSET_ERRORS],
                         ids=[row[0] for row in MODELSET_ERRORS])
def test_modelset_errors(r, argv, expected):
    assert error_reply(r, *argv) == expected
    assert not r.exists("m")


def test_modelset_device_is_checked_by_the_backend(r, blobs):
    assert error_reply(r, "AI.MODELSET", "m", "ONNX", "XPU", "BLOB", blobs("onnx_mlp")) \
        == "ERR unsupported device"
    r.set("m", "v")
    assert error_reply(r, "AI.MODELSET", "m", "ONNX", "CPU", "BLOB", blobs("onnx_mlp")) == WRONGTYPE
