"""Model commands against the spec: AI.MODELSTORE / MODELGET / MODELDEL /
MODELEXECUTE / _MODELSCAN / AI.INFO and the deprecated AI.MODELSET /
AI.MODELRUN (commands.md: grammar, replies, error tables in check order),
backends, devices, chunking, timeouts and statistics (models-scripts.md),
persistence and replication of models (persistence-replication-cluster.md).

Every model is built at test time with its real framework (tests/models.py)
and every result is compared with that framework run in this process."""
import os
import random
import shutil
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
from redis.exceptions import ResponseError

import models
from conftest import wait_info as wait_for
from test_tensor import ARITY, NUMPY_DTYPES, TENSOR_EMPTY, WRONGTYPE, error_reply, wire_error

MODEL_EMPTY = "ERR model key is empty"
IN_TX = "ERR Cannot run RedisAI command within a transaction or a LUA script"
NO_RUN_INFO = "ERR cannot find run info for key"
DEFAULT_CHUNK_SIZE = 535822336
HAS_GPU = shutil.which("nvidia-smi") is not None or os.path.exists("/dev/nvidia0")
TYPE_NAMES = {np.dtype(t): name for name, t in NUMPY_DTYPES.items()}
TF_IO = ("INPUTS", 2, "a", "b", "OUTPUTS", 1, "mul")

# torch.jit is deprecated upstream, but TorchScript is the TORCH backend's format.
pytestmark = pytest.mark.filterwarnings(r"ignore:`torch\.jit\.:DeprecationWarning")


# ---------------------------------------------------------------- blobs

class Blobs:
    """Model blobs by builder name (a function of tests/models.py), each
    built once per session."""

    def __init__(self):
        self.cache = {}

    def __call__(self, builder, *args):
        if (builder, args) not in self.cache:
            self.cache[builder, args] = getattr(models, builder)(*args)
        return self.cache[builder, args]


@pytest.fixture(scope="session")
def blobs():
    return Blobs()


# ---------------------------------------------------------------- helpers

def store(r, key, backend, blob, *options, device="CPU", command="AI.MODELSTORE"):
    return r.execute_command(command, key, backend, device, *options, "BLOB", blob)


def modelexecute(r, key, inputs, outputs, *extra):
    return r.execute_command("AI.MODELEXECUTE", key, "INPUTS", len(inputs), *inputs,
                             "OUTPUTS", len(outputs), *outputs, *extra)


def tensorset(r, key, array):
    if array.dtype == object:                   # STRING: NUL-terminated elements
        dtype, blob = "STRING", b"".join(e + b"\0" for e in array.reshape(-1))
    else:
        dtype, blob = TYPE_NAMES[array.dtype], array.tobytes()
    assert r.execute_command("AI.TENSORSET", key, dtype, *array.shape, "BLOB", blob) == b"OK"


def tensorget(r, key):
    _, dtype, _, shape, _, blob = r.execute_command("AI.TENSORGET", key, "META", "BLOB")
    if dtype == b"STRING":
        return np.array(blob.split(b"\0")[:-1], dtype=object).reshape(shape)
    return np.frombuffer(blob, NUMPY_DTYPES[dtype.decode()]).reshape(shape)


def pairs(reply):
    """A flat [name, value, ...] reply as a dict with str names."""
    return {reply[i].decode(): reply[i + 1] for i in range(0, len(reply), 2)}


def meta(r, key):
    return pairs(r.execute_command("AI.MODELGET", key, "META"))


def info(r, key):
    return pairs(r.execute_command("AI.INFO", key))


def zero_stats(key, backend, device="CPU", tag=b""):
    return {"key": key.encode(), "type": b"MODEL", "backend": backend.encode(),
            "device": device.encode(), "tag": tag, "duration": 0, "samples": 0, "calls": 0,
            "errors": 0}


def outcome(call, *args):
    """The reply of a command, or the ResponseError it raised (for threads)."""
    try:
        return call(*args)
    except ResponseError as exc:
        return exc


def wait_until(predicate, what, timeout=60):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout} s in vain for {what}")
        time.sleep(0.01)


def wait_blocked(r, n):
    """Until at least n clients are blocked (queued or running requests)."""
    wait_until(lambda: r.info("clients")["blocked_clients"] >= n, f"{n} blocked clients")


def assert_alive(server):
    assert server.proc.poll() is None, f"server died:\n{server.log()[-3000:]}"
    assert server.client().ping()


def assert_results(actual, expected):
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected):
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- the models per backend

def mlp_inputs(rng, n=5):
    return [rng.standard_normal((n, 4)).astype(np.float32),
            rng.standard_normal((n, 3)).astype(np.float32)]


def pair_inputs(rng, n=2):
    return [rng.standard_normal((n, 3)).astype(np.float32) for _ in range(2)]


@dataclass(frozen=True)
class Case:
    """A model of one backend: how it is stored, fed, run by its framework
    here, and which node names MODELGET must report."""
    backend: str
    builder: str
    inputs: Callable            # rng -> input arrays
    run: Callable               # (blob, arrays) -> output arrays
    names: Callable             # blob -> (input names, output names)
    declared: tuple = ()        # the INPUTS/OUTPUTS clause (TF only)

    def blob(self, blobs):
        return blobs(self.builder)

    def store(self, r, key, blobs, *options, device="CPU"):
        return store(r, key, self.backend, self.blob(blobs), *options, *self.declared,
                     device=device)

    def execute_and_compare(self, r, key, blobs, rng, prefix=""):
        """Runs the model on fresh inputs and checks every output against
        the framework; returns the outputs."""
        arrays = self.inputs(rng)
        n_out = len(self.names(self.blob(blobs))[1])
        ins = [f"{prefix}in{i}" for i in range(len(arrays))]
        outs = [f"{prefix}out{i}" for i in range(n_out)]
        for name, array in zip(ins, arrays):
            tensorset(r, name, array)
        assert modelexecute(r, key, ins, outs) == b"OK"
        actual = [tensorget(r, name) for name in outs]
        assert_results(actual, self.run(self.blob(blobs), arrays))
        return actual


CASES = {
    "onnx": Case("ONNX", "onnx_mlp", mlp_inputs, lambda blob, a: models.onnx_run(blob, *a),
                 lambda blob: (["x", "z"], ["y", "h"])),
    "torch": Case("TORCH", "torch_pair", mlp_inputs, lambda blob, a: models.torch_run(blob, *a),
                  lambda blob: (["x", "z"], ["", ""])),
    "torch_traced": Case("TORCH", "torch_traced", pair_inputs,
                         lambda blob, a: models.torch_run(blob, *a),
                         lambda blob: (["a", "b"], [""])),
    "tf": Case("TF", "tf_mul", pair_inputs,
               lambda blob, a: models.tf_run(blob, ["a", "b"], ["mul"], *a),
               lambda blob: (["a", "b"], ["mul"]), TF_IO),
    "tflite": Case("TFLITE", "tflite_pair", pair_inputs,
                   lambda blob, a: models.tflite_run(blob, *a), models.tflite_names),
}
BY_BACKEND = {case.backend: case for name, case in CASES.items() if name != "torch_traced"}
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


@pytest.fixture
def mlp(r, blobs):
    """The ONNX MLP at `m`, its inputs at `x` and `z` (batch of 5)."""
    assert store(r, "m", "ONNX", blobs("onnx_mlp")) == b"OK"
    arrays = mlp_inputs(np.random.default_rng(3))
    tensorset(r, "x", arrays[0])
    tensorset(r, "z", arrays[1])
    return arrays


@pytest.fixture
def chunk_size(r):
    def set_size(size):
        assert r.execute_command("AI.CONFIG", "MODEL_CHUNK_SIZE", size) == b"OK"
    yield set_size
    set_size(DEFAULT_CHUNK_SIZE)


class Slow:
    """The slow TorchScript model at `slow`: `run(client, ms)` is one request
    that keeps the CPU queue busy for about `ms` milliseconds."""
    steps_per_ms = {}           # per server port, measured once

    def __init__(self, r, blobs, port):
        assert store(r, "slow", "TORCH", blobs("torch_slow")) == b"OK"
        tensorset(r, "slow_x", np.ones((1, 64), np.float32))
        if port not in self.steps_per_ms:
            steps = 2000
            tensorset(r, "slow_n", np.array(steps, np.int64))
            for _ in range(3):      # TorchScript optimises a module in its first runs
                assert r.execute_command("AI.INFO", "slow", "RESETSTAT") == b"OK"
                assert modelexecute(r, "slow", ["slow_x", "slow_n"], ["slow_y"]) == b"OK"
            self.steps_per_ms[port] = steps / max(info(r, "slow")["duration"] / 1000, 0.01)
        assert r.execute_command("AI.INFO", "slow", "RESETSTAT") == b"OK"
        self.port = port

    def run(self, client, ms, *extra):
        n = f"slow_n{ms}"
        tensorset(client, n, np.array(int(ms * self.steps_per_ms[self.port]), np.int64))
        return modelexecute(client, "slow", ["slow_x", n], ["slow_y"], *extra)


@pytest.fixture
def slow(r, blobs, shared_server):
    return Slow(r, blobs, shared_server.port)


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


@pytest.mark.parametrize("backend", ["ONNX", "TORCH", "TF", "TFLITE"])
@pytest.mark.parametrize("kind", ["truncated", "random bytes", "other backend's model", "empty"])
def test_malformed_blob_is_an_error_not_a_crash(r, shared_server, blobs, backend, kind):
    own = BY_BACKEND[backend].blob(blobs)
    other = BY_BACKEND["ONNX" if backend != "ONNX" else "TORCH"].blob(blobs)
    blob = {"truncated": own[:len(own) // 2], "other backend's model": other, "empty": b"",
            "random bytes": random.Random(backend).randbytes(4096)}[kind]
    with pytest.raises(ResponseError):
        store(r, "m", backend, blob, *BY_BACKEND[backend].declared)
    assert_alive(shared_server)
    assert not r.exists("m")
    with pytest.raises(ResponseError, match="cannot find run info"):
        info(r, "m")


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


# ================================================================ AI.MODELEXECUTE

@pytest.mark.parametrize("name", CASES)
def test_modelexecute_matches_the_framework(r, blobs, name):
    assert CASES[name].store(r, "m", blobs) == b"OK"
    rng = np.random.default_rng(11)
    for _ in range(2):
        CASES[name].execute_and_compare(r, "m", blobs, rng)


@pytest.mark.parametrize("dtype", models.ONNX_IDENTITY_TYPES)
def test_onnx_identity_round_trips_every_dtype(r, blobs, dtype):
    assert store(r, "m", "ONNX", blobs("onnx_identity", dtype)) == b"OK"
    rng = np.random.default_rng(5)
    if dtype == "STRING":
        array = np.array([[b"a", b"", b"hello world"], [b"x" * 50, b"b", b"\xc3\xa9"]],
                         dtype=object)
    elif dtype == "BOOL":
        array = rng.integers(0, 2, (2, 3)).astype(np.bool_)
    elif dtype in ("FLOAT", "DOUBLE"):
        array = rng.standard_normal((2, 3)).astype(NUMPY_DTYPES[dtype])
    else:
        bounds = np.iinfo(NUMPY_DTYPES[dtype])
        array = rng.integers(bounds.min, bounds.max, (2, 3), dtype=NUMPY_DTYPES[dtype],
                             endpoint=True)
    tensorset(r, "in", array)
    assert modelexecute(r, "m", ["in"], ["out"]) == b"OK"
    assert r.execute_command("AI.TENSORGET", "out", "META", "BLOB") == \
        r.execute_command("AI.TENSORGET", "in", "META", "BLOB")
    np.testing.assert_array_equal(tensorget(r, "out"),
                                  models.onnx_run(blobs("onnx_identity", dtype), array)[0])


def test_onnx_string_elements_must_be_utf8(r, blobs):
    """ONNX Runtime's Python API takes STRING elements as text only (bytes come
    back mangled), so bytes that are not UTF-8 are refused with a clear error
    (a documented deviation: the reference passed raw bytes through its C API)."""
    assert store(r, "m", "ONNX", blobs("onnx_identity", "STRING")) == b"OK"
    tensorset(r, "in", np.array([[b"caf\xc3\xa9", b"ok"]], dtype=object))
    assert modelexecute(r, "m", ["in"], ["out"]) == b"OK"
    assert r.execute_command("AI.TENSORGET", "out", "BLOB") == b"caf\xc3\xa9\0ok\0"
    tensorset(r, "in", np.array([[b"\xff\xfe binary", b"ok"]], dtype=object))
    with pytest.raises(ResponseError, match="^ONNX STRING elements must be valid UTF-8$"):
        modelexecute(r, "m", ["in"], ["out2"])
    assert not r.exists("out2") and r.ping()


def test_onnx_outputs_that_are_not_tensors_are_skipped(r, blobs):
    assert store(r, "m", "ONNX", blobs("onnx_with_sequence")) == b"OK"
    assert meta(r, "m")["outputs"] == [b"y", b"s"]
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    tensorset(r, "x", x)
    assert modelexecute(r, "m", ["x"], ["y", "s"]) == b"OK"
    np.testing.assert_array_equal(tensorget(r, "y"),
                                  models.onnx_run(blobs("onnx_with_sequence"), x)[0])
    assert not r.exists("s")


def test_onnx_external_data_is_refused(r, shared_server, blobs):
    """Models must be self-contained: the weights file exists in the server's
    working directory and would load, but the model is refused."""
    blob, weights = blobs("onnx_external_weights", "weights.bin")
    (shared_server.dir / "weights.bin").write_bytes(weights)
    assert "Initializer tensors with external data is not allowed." in \
        error_reply(r, "AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", blob)
    assert not r.exists("m")


def test_torch_non_tensor_return_value(r, blobs):
    """forward() -> Tuple[Tensor, int] has one output (its Tensor members)."""
    assert store(r, "m", "TORCH", blobs("torch_tensor_and_int")) == b"OK"
    assert meta(r, "m")["outputs"] == [b""]
    tensorset(r, "x", np.zeros((2, 2), np.float32))
    with pytest.raises(ResponseError) as exc:
        modelexecute(r, "m", ["x"], ["y"])
    assert wire_error(exc.value) == "Function returned non-tensor valuesforward"
    assert not r.exists("y")


def test_tf_inputs_are_not_checked_against_placeholder_shapes(r, blobs):
    """models-scripts.md: the reference fed [1,3] into a placeholder declared [3]."""
    assert store(r, "m", "TF", blobs("tf_mul", (3,)), *TF_IO) == b"OK"
    a = np.array([[1, 2, 3]], np.float32)
    b = np.array([[4, 5, 6]], np.float32)
    tensorset(r, "a", a)
    tensorset(r, "b", b)
    assert modelexecute(r, "m", ["a", "b"], ["c"]) == b"OK"
    assert_results([tensorget(r, "c")], models.tf_run(blobs("tf_mul"), ["a", "b"], ["mul"], a, b))


def test_same_key_as_input_and_output(r, blobs):
    assert CASES["torch_traced"].store(r, "m", blobs) == b"OK"
    a, b = pair_inputs(np.random.default_rng(2))
    tensorset(r, "a", a)
    tensorset(r, "b", b)
    assert modelexecute(r, "m", ["a", "b"], ["a"]) == b"OK"
    assert_results([tensorget(r, "a")], models.torch_run(blobs("torch_traced"), a, b))


def test_keywords_are_case_insensitive(r, mlp, blobs):
    assert r.execute_command("AI.MODELEXECUTE", "m", "inputs", 2, "x", "z", "outputs", 2, "y", "h",
                             "timeout", 5000) == b"OK"
    assert_results([tensorget(r, "y"), tensorget(r, "h")],
                   models.onnx_run(blobs("onnx_mlp"), *mlp))


def _exec(*args):
    return ["AI.MODELEXECUTE", *args]


IO = ("INPUTS", 2, "x", "z", "OUTPUTS", 2, "y", "h")

# `m` has 2 inputs and 2 outputs, `s5` 5 inputs (needed to reach the
# "not enough arguments for the inputs" check past the arity check).
MODELEXECUTE_ERRORS = [
    ("arity", _exec("m", "INPUTS", 2, "x", "z", "OUTPUTS"),
     "ERR wrong number of arguments for 'AI.MODELEXECUTE' command"),
    ("arity is hard-coded", ["ai.modelexecute", "nope", "INPUTS", 1, "x", "OUTPUTS", 1],
     "ERR wrong number of arguments for 'AI.MODELEXECUTE' command"),
    ("missing model", _exec("nope", *IO), MODEL_EMPTY),
    ("missing model before syntax", _exec("nope", "FOO", 2, "x", "z", "BAR", 2, "y", "h"),
     MODEL_EMPTY),
    ("model key is a string", _exec("str", *IO), WRONGTYPE),
    ("model key is a tensor", _exec("x", *IO), WRONGTYPE),
    ("no INPUTS", _exec("m", "FOO", 2, "x", "z", "OUTPUTS", 2, "y", "h"),
     "ERR INPUTS not specified"),
    ("TIMEOUT first", _exec("m", "TIMEOUT", 10, *IO), "ERR INPUTS not specified"),
    ("input count text", _exec("m", "INPUTS", "two", "x", "z", "OUTPUTS", 2, "y", "h"),
     "ERR Invalid argument for input_count"),
    ("input count fraction", _exec("m", "INPUTS", "2.0", "x", "z", "OUTPUTS", 2, "y", "h"),
     "ERR Invalid argument for input_count"),
    ("input count leading zero", _exec("m", "INPUTS", "02", "x", "z", "OUTPUTS", 2, "y", "h"),
     "ERR Invalid argument for input_count"),
    ("input count 0", _exec("m", "INPUTS", 0, "x", "z", "OUTPUTS", 2, "y", "h"),
     "ERR Input count must be a positive integer"),
    ("input count negative", _exec("m", "INPUTS", -2, "x", "z", "OUTPUTS", 2, "y", "h"),
     "ERR Input count must be a positive integer"),
    ("input count differs", _exec("m", "INPUTS", 1, "x", "OUTPUTS", 2, "y", "h"),
     "Number of keys given as INPUTS here does not match model definition"),
    ("input count differs before outputs", _exec("m", "INPUTS", 3, "x", "z", "w", "FOO", 0),
     "Number of keys given as INPUTS here does not match model definition"),
    ("not enough input keys", _exec("s5", "INPUTS", 5, "a", "b", "c", "d"),
     "ERR number of input keys to AI.MODELEXECUTE command does not match the number of "
     "given arguments"),
    ("no OUTPUTS", _exec("m", "INPUTS", 2, "x", "z", "FOO", 2, "y", "h"),
     "ERR OUTPUTS not specified"),
    ("nothing after inputs", _exec("s5", "INPUTS", 5, "a", "b", "c", "d", "e"),
     "ERR OUTPUTS not specified"),
    ("output count text", _exec("m", "INPUTS", 2, "x", "z", "OUTPUTS", "two", "y", "h"),
     "ERR Invalid argument for output_count"),
    ("output count missing", _exec("s5", "INPUTS", 5, "a", "b", "c", "d", "e", "OUTPUTS"),
     "ERR Invalid argument for output_count"),
    ("output count 0", _exec("m", "INPUTS", 2, "x", "z", "OUTPUTS", 0, "y", "h"),
     "ERR Output count must be a positive integer"),
    ("output count negative", _exec("m", "INPUTS", 2, "x", "z", "OUTPUTS", -1, "y"),
     "ERR Output count must be a positive integer"),
    ("output count differs", _exec("m", "INPUTS", 2, "x", "z", "OUTPUTS", 1, "y"),
     "Number of keys given as OUTPUTS here does not match model definition"),
    ("not enough output keys", _exec("m", "INPUTS", 2, "x", "z", "OUTPUTS", 2, "y"),
     "ERR number of output keys to AI.MODELEXECUTE command does not match the number of "
     "given arguments"),
    ("unknown token after outputs", _exec("m", *IO, "FOO"), "Invalid argument: FOO"),
    ("unknown token before TIMEOUT", _exec("m", *IO, "BAR", "TIMEOUT", 10),
     "Invalid argument: BAR"),
    ("TIMEOUT without value", _exec("m", *IO, "TIMEOUT"), "ERR No value provided for TIMEOUT"),
    ("TIMEOUT 0", _exec("m", *IO, "TIMEOUT", 0), "ERR Invalid value for TIMEOUT"),
    ("TIMEOUT negative", _exec("m", *IO, "TIMEOUT", -5), "ERR Invalid value for TIMEOUT"),
    ("TIMEOUT text", _exec("m", *IO, "TIMEOUT", "soon"), "ERR Invalid value for TIMEOUT"),
    ("TIMEOUT fraction", _exec("m", *IO, "TIMEOUT", "1.5"), "ERR Invalid value for TIMEOUT"),
    ("TIMEOUT with plus sign", _exec("m", *IO, "TIMEOUT", "+5"), "ERR Invalid value for TIMEOUT"),
    ("argument after TIMEOUT", _exec("m", *IO, "TIMEOUT", 100, "extra"), "Invalid argument: extra"),
    ("second TIMEOUT", _exec("m", *IO, "TIMEOUT", 100, "TIMEOUT", 100),
     "Invalid argument: TIMEOUT"),
    ("syntax before missing input", _exec("m", "INPUTS", 2, "nope", "z", "OUTPUTS", 2, "y", "h",
                                          "TIMEOUT", 0),
     "ERR Invalid value for TIMEOUT"),
    ("missing input", _exec("m", "INPUTS", 2, "x", "nope", "OUTPUTS", 2, "y", "h"), TENSOR_EMPTY),
    ("input is a string", _exec("m", "INPUTS", 2, "str", "z", "OUTPUTS", 2, "y", "h"), WRONGTYPE),
    ("input is a model", _exec("m", "INPUTS", 2, "x", "m", "OUTPUTS", 2, "y", "h"), WRONGTYPE),
]


@pytest.mark.parametrize("argv, expected", [row[1:] for row in MODELEXECUTE_ERRORS],
                         ids=[row[0] for row in MODELEXECUTE_ERRORS])
def test_modelexecute_errors(r, blobs, mlp, argv, expected):
    assert store(r, "s5", "ONNX", blobs("onnx_sum")) == b"OK"
    r.set("str", "v")
    assert error_reply(r, *argv) == expected
    assert not r.exists("y", "h")
    assert info(r, "m")["calls"] == 0          # parse errors are not counted


def test_output_key_of_wrong_type_is_one_wrongtype_reply(r, mlp):
    r.set("h", "a string")
    assert error_reply(r, "AI.MODELEXECUTE", "m", *IO) == WRONGTYPE
    # The connection is in sync: the next reply belongs to the next command.
    assert r.ping() is True
    assert r.get("h") == b"a string"
    assert not r.exists("y")


MODELRUN = ("AI.MODELRUN", "m", "INPUTS", "x", "z", "OUTPUTS", "y", "h")


@pytest.mark.parametrize("argv", [("AI.MODELEXECUTE", "m", *IO), MODELRUN], ids=["execute", "run"])
def test_execution_refused_in_multi_and_lua(r, mlp, argv):
    pipe = r.pipeline(transaction=True)
    pipe.execute_command(*argv)
    pipe.ping()
    refused, pong = pipe.execute(raise_on_error=False)
    assert wire_error(refused) == IN_TX and pong is True
    with pytest.raises(ResponseError) as exc:
        r.eval("return redis.pcall(unpack(ARGV))", 0, *argv)
    assert wire_error(exc.value) == IN_TX
    assert not r.exists("y")


@pytest.mark.parametrize("name, inputs", [
    ("onnx", [np.zeros((2, 5), np.float32), np.zeros((2, 3), np.float32)]),
    ("onnx", [np.zeros((2, 4), np.float64), np.zeros((2, 3), np.float32)]),
    ("torch", [np.zeros((2, 5), np.float32), np.zeros((2, 3), np.float32)]),
    ("tf", [np.zeros(2, np.float32), np.zeros((2, 2, 3), np.float32)]),
    ("tflite", [np.zeros((2, 3), np.int32), np.zeros((2, 3), np.int32)]),
    ("torch", [np.array([[b"a"] * 4] * 2, dtype=object), np.zeros((2, 3), np.float32)]),
    ("torch", [np.zeros((2, 4), np.uint16), np.zeros((2, 3), np.float32)]),
], ids=["onnx shape", "onnx dtype", "torch shape", "tf shapes", "tflite dtype", "torch STRING",
        "torch UINT16"])
def test_backend_runtime_error_is_a_reply_and_counted(r, blobs, name, inputs):
    case = CASES[name]
    assert case.store(r, "m", blobs) == b"OK"
    for i, array in enumerate(inputs):
        tensorset(r, f"in{i}", array)
    outs = [f"out{i}" for i in range(len(case.names(case.blob(blobs))[1]))]
    with pytest.raises(ResponseError) as exc:
        modelexecute(r, "m", ["in0", "in1"], outs)
    if name == "tflite":
        assert wire_error(exc.value) == \
            "Input tensor type doesn't match the type expected by the model definition"
    assert not r.exists(*outs)
    stats = info(r, "m")
    assert (stats["calls"], stats["errors"], stats["samples"]) == (1, 1, 0)
    assert r.ping()


# ---------------------------------------------------------------- TIMEOUT

@pytest.mark.parametrize("command", ["execute", "run"])
def test_timeout_behind_slow_requests_replies_timedout(r, shared_server, slow, mlp, command):
    timed = {"execute": ("AI.MODELEXECUTE", "m", *IO, "TIMEOUT", 1),
             "run": ("AI.MODELRUN", "m", "TIMEOUT", 1, "INPUTS", "x", "z", "OUTPUTS", "y", "h")}
    with ThreadPoolExecutor(3) as pool:
        busy = [pool.submit(slow.run, shared_server.client(), 200) for _ in range(3)]
        wait_blocked(r, 3)
        assert r.execute_command(*timed[command]) == b"TIMEDOUT"    # a simple string, no error
        assert [f.result() for f in busy] == [b"OK"] * 3
    assert not r.exists("y", "h")
    assert info(r, "m")["calls"] == 0             # timed out requests are not counted
    assert info(r, "slow")["calls"] == 3


def test_timeout_not_reached(r, mlp):
    assert modelexecute(r, "m", ["x", "z"], ["y", "h"], "TIMEOUT", 60000) == b"OK"
    assert r.exists("y", "h") == 2


def test_a_running_model_is_not_interrupted_by_its_timeout(r, slow):
    """The deadline is checked when a worker takes the request, not while it runs."""
    start = time.monotonic()
    assert slow.run(r, 300, "TIMEOUT", 50) == b"OK"
    assert time.monotonic() - start > 0.1
    assert r.exists("slow_y") and info(r, "slow")["calls"] == 1


def test_each_device_string_has_its_own_queue(r, shared_server, slow, mlp, blobs):
    """CPU:1 is a second CPU queue: its requests do not wait behind CPU's."""
    assert store(r, "m1", "ONNX", blobs("onnx_mlp"), device="CPU:1") == b"OK"
    with ThreadPoolExecutor(1) as pool:
        busy = pool.submit(slow.run, shared_server.client(), 500)
        wait_blocked(r, 1)
        assert modelexecute(r, "m1", ["x", "z"], ["y", "h"], "TIMEOUT", 200) == b"OK"
        assert not busy.done()
        assert busy.result() == b"OK"


def test_threads_per_queue_2_runs_two_requests_at_once(server_factory, blobs):
    """Two workers run two requests truly in parallel (the framework computes
    without the GIL): the backend time AI.INFO adds up for two concurrent
    ~300 ms requests is about twice the wall time they took, where a single
    worker runs them back to back."""
    def overlap(threads_per_queue):
        server = server_factory(module_args=["THREADS_PER_QUEUE", threads_per_queue])
        r = server.client()
        slow = Slow(r, blobs, server.port)
        with ThreadPoolExecutor(2) as pool:
            start = time.monotonic()
            runs = [pool.submit(slow.run, server.client(), 300) for _ in range(2)]
            assert [f.result() for f in runs] == [b"OK"] * 2
            wall_us = (time.monotonic() - start) * 1e6
        return info(r, "slow")["duration"] / wall_us

    assert overlap(1) < 1.1
    assert overlap(2) > 1.6


def test_a_reply_is_not_held_behind_another_models_request(r, shared_server, slow, mlp):
    """Workers hand finished replies back in groups only across requests for
    the same model: fast requests queued between two slow ones are answered
    before the second slow one runs, not together with it."""
    def timed(call, *args):
        result = call(*args)
        return result, time.monotonic()

    for _ in range(20):         # warm: short calls are the ones that get held
        modelexecute(r, "m", ["x", "z"], ["y", "h"])
    with ThreadPoolExecutor(5) as pool:
        pool.submit(slow.run, shared_server.client(), 200)
        wait_blocked(r, 1)
        fast = [pool.submit(timed, modelexecute, shared_server.client(), "m", ["x", "z"],
                            ["y", "h"]) for _ in range(3)]
        wait_blocked(r, 4)
        second = pool.submit(timed, slow.run, shared_server.client(), 1000)
        wait_blocked(r, 5)
        replies = [f.result() for f in fast]
        second_reply, second_at = second.result()
    assert [reply for reply, _ in replies] == [b"OK"] * 3 and second_reply == b"OK"
    assert all(second_at - at > 0.5 for _, at in replies)


# ================================================================ AI.INFO and AI._MODELSCAN

@pytest.mark.parametrize("name", CASES)
def test_info_is_zero_after_store(r, blobs, name):
    assert CASES[name].store(r, "m", blobs, "TAG", "v1", device="cpu:3") == b"OK"
    assert info(r, "m") == zero_stats("m", CASES[name].backend, "cpu:3", b"v1")


def test_info_counts_runs_and_resets(r, blobs):
    assert store(r, "m", "ONNX", blobs("onnx_mlp")) == b"OK"
    rng = np.random.default_rng(1)
    for batch in (2, 3, 5):                       # samples = dim 0 of the first output
        x, z = mlp_inputs(rng, batch)
        tensorset(r, "x", x)
        tensorset(r, "z", z)
        assert modelexecute(r, "m", ["x", "z"], ["y", "h"]) == b"OK"
    stats = info(r, "m")
    assert (stats["calls"], stats["samples"], stats["errors"]) == (3, 10, 0)
    assert isinstance(stats["duration"], int) and stats["duration"] > 0
    # A third argument other than RESETSTAT is ignored.
    assert pairs(r.execute_command("AI.INFO", "m", "whatever")) == stats
    assert r.execute_command("AI.INFO", "m", "RESETSTAT") == b"OK"
    assert info(r, "m") == zero_stats("m", "ONNX")
    assert modelexecute(r, "m", ["x", "z"], ["y", "h"]) == b"OK"
    assert r.execute_command("AI.INFO", "m", "resetstat") == b"OK"
    assert info(r, "m") == zero_stats("m", "ONNX")


@pytest.mark.parametrize("argv, expected", [
    (["AI.INFO"], ARITY.format("AI.INFO")),
    (["AI.INFO", "m", "RESETSTAT", "x"], ARITY.format("AI.INFO")),
    (["AI.INFO", "nope"], NO_RUN_INFO),
    (["AI.INFO", "nope", "RESETSTAT"], NO_RUN_INFO),
    (["AI.INFO", "x"], NO_RUN_INFO),              # a tensor has no run info
    (["AI._MODELSCAN", "x"], ARITY.format("AI._MODELSCAN")),
])
def test_info_and_scan_errors(r, mlp, argv, expected):
    assert error_reply(r, *argv) == expected


def test_modelscan_lists_key_and_tag(r, shared_server, blobs):
    assert store(r, "m1", "ONNX", blobs("onnx_mlp"), "TAG", "first") == b"OK"
    assert store(r, "m2", "TORCH", blobs("torch_pair")) == b"OK"
    # All databases share one statistics dictionary.
    assert store(shared_server.client(db=1), "m3", "ONNX", blobs("onnx_mlp"), "TAG", "db1") == b"OK"
    assert sorted(r.execute_command("AI._MODELSCAN")) == \
        [[b"m1", b"first"], [b"m2", b""], [b"m3", b"db1"]]
    assert r.execute_command("AI.MODELDEL", "m1") == b"OK"
    assert sorted(r.execute_command("AI._MODELSCAN")) == [[b"m2", b""], [b"m3", b"db1"]]
    assert error_reply(r, "AI.INFO", "m1") == NO_RUN_INFO


# ================================================================ concurrency

def test_64_concurrent_clients_each_get_their_own_result(r, shared_server, blobs):
    assert store(r, "m", "ONNX", blobs("onnx_mlp")) == b"OK"
    clients = 64
    start = threading.Barrier(clients)

    def one_client(i):
        client = shared_server.client()
        x, z = mlp_inputs(np.random.default_rng(100 + i), 1 + i % 7)
        tensorset(client, f"x{i}", x)
        tensorset(client, f"z{i}", z)
        start.wait()
        reply = modelexecute(client, "m", [f"x{i}", f"z{i}"], [f"y{i}", f"h{i}"])
        return reply, (x, z), [tensorget(client, f"y{i}"), tensorget(client, f"h{i}")]

    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(one_client, range(clients)))
    for reply, inputs, outputs in results:
        assert reply == b"OK"
        assert_results(outputs, models.onnx_run(blobs("onnx_mlp"), *inputs))
    stats = info(r, "m")
    assert stats["calls"] == clients and stats["errors"] == 0
    assert stats["samples"] == sum(1 + i % 7 for i in range(clients))


ACTIONS = {
    "overwrite model": lambda r, blobs: store(r, "m", "TORCH", blobs("torch_pair")),
    "MODELDEL": lambda r, blobs: r.execute_command("AI.MODELDEL", "m"),
    "MODELDEL and store again": lambda r, blobs: (r.execute_command("AI.MODELDEL", "m"),
                                                  store(r, "m", "TORCH", blobs("torch_pair"))),
    "FLUSHALL": lambda r, blobs: r.flushall(),
    "FLUSHALL ASYNC": lambda r, blobs: r.flushall(asynchronous=True),
    "delete inputs": lambda r, blobs: r.delete("x", "z"),
    "overwrite inputs": lambda r, blobs: tensorset(r, "x", np.zeros((9, 9), np.float64)),
}


@pytest.mark.parametrize("action", ACTIONS)
def test_changes_while_requests_are_queued(r, shared_server, blobs, slow, mlp, action):
    queued = 8
    with ThreadPoolExecutor(queued + 1) as pool:
        head = pool.submit(outcome, slow.run, shared_server.client(), 300)
        wait_blocked(r, 1)
        requests = [pool.submit(outcome, modelexecute, shared_server.client(), "m", ["x", "z"],
                                [f"y{i}", f"h{i}"]) for i in range(queued)]
        wait_blocked(r, queued + 1)
        ACTIONS[action](r, blobs)
        replies = [head.result()] + [f.result() for f in requests]
    assert all(reply == b"OK" or isinstance(reply, ResponseError) for reply in replies), replies
    assert_alive(shared_server)
    if action in ("overwrite model", "MODELDEL and store again"):
        # The old model, released by the last queued request, takes its own
        # statistics with it, not those of the model now at the key.
        assert info(r, "m") == zero_stats("m", "TORCH")
        CASES["torch"].execute_and_compare(r, "m", blobs, np.random.default_rng(0))
        assert info(r, "m")["calls"] == 1
    if action in ("MODELDEL", "FLUSHALL", "FLUSHALL ASYNC"):
        # The statistics go with the last reference to the model.
        wait_until(lambda: isinstance(outcome(info, r, "m"), ResponseError), "stats released", 10)
        assert error_reply(r, "AI.INFO", "m") == NO_RUN_INFO


def test_modelstore_takes_effect_when_the_client_disconnects(r, shared_server, blobs, slow):
    """Like any write command, a MODELSTORE the server accepted is applied even
    if its client leaves before the reply (here while the CPU queue is busy)."""
    command = _resp("AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", blobs("onnx_mlp"))
    with ThreadPoolExecutor(1) as pool:
        busy = pool.submit(slow.run, shared_server.client(), 300)
        wait_blocked(r, 1)
        with socket.create_connection(("127.0.0.1", shared_server.port)) as sock:
            sock.sendall(command)
            wait_blocked(r, 2)          # the store waits behind the slow run
        assert busy.result() == b"OK"
    wait_until(lambda: r.exists("m"), "the model stored", 5)
    CASES["onnx"].execute_and_compare(r, "m", blobs, np.random.default_rng(0))


def _resp(*args):
    """One command in the RESP wire format."""
    parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


def _memory(server):
    rss = next(line for line in open(f"/proc/{server.proc.pid}/status")
               if line.startswith("VmRSS:"))
    return int(rss.split()[1]) * 1024, server.client().info("memory")["used_memory"]


def test_clients_that_disconnect_while_blocked(server_factory, blobs):
    """Each request has a 1 MiB output: a leak per disconnected client shows."""
    server = server_factory()
    client = server.client()
    assert store(client, "id", "ONNX", blobs("onnx_identity", "FLOAT")) == b"OK"
    tensorset(client, "big", np.ones((256, 1024), np.float32))
    command = _resp("AI.MODELEXECUTE", "id", "INPUTS", 1, "big", "OUTPUTS", 1, "out")

    def burst(n):
        for i in range(n):
            with socket.create_connection(("127.0.0.1", server.port)) as sock:
                sock.sendall(command)       # closed at once, before the reply
        wait_until(lambda: client.info("clients")["connected_clients"] == 1, "clients gone")
        # The queue is FIFO: once this reply is in, the abandoned requests are done.
        assert modelexecute(client, "id", ["big"], ["mine"]) == b"OK"

    burst(50)                                # warm up: arenas, thread pools
    rss_before, used_before = _memory(server)
    burst(300)
    assert_alive(server)
    # Abandoned outputs may be released a little later, but all of them are.
    wait_until(lambda: _memory(server)[1] - used_before < 8 << 20, "memory released", 30)
    rss_after, _ = _memory(server)
    assert rss_after - rss_before < 64 << 20, (rss_before, rss_after)
    assert modelexecute(client, "id", ["big"], ["out"]) == b"OK"


# ================================================================ persistence and replication

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
    wait_for(client, "persistence", aof_rewrite_in_progress=0, aof_rewrite_scheduled=0,
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
    wait_for(replica_client, "replication", master_link_status="up")
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
        wait_for(r, "persistence", rdb_bgsave_in_progress=0, rdb_last_bgsave_status="ok")
        assert [f.result() for f in busy] == [b"OK"] * 4
    assert_alive(shared_server)


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


# ================================================================ deprecated AI.MODELRUN

@pytest.mark.parametrize("prefix", [(), ("TIMEOUT", 60000)])
def test_modelrun_runs_like_modelexecute(r, blobs, mlp, prefix):
    assert r.execute_command("AI.MODELRUN", "m", *prefix, "INPUTS", "x", "z",
                             "OUTPUTS", "y", "h") == b"OK"
    assert_results([tensorget(r, "y"), tensorget(r, "h")],
                   models.onnx_run(blobs("onnx_mlp"), *mlp))
    assert info(r, "m")["calls"] == 1


def _run(*args):
    return ["AI.MODELRUN", *args]


MODELRUN_ERRORS = [
    ("arity", _run("m", "INPUTS", "x", "OUTPUTS"),
     "ERR wrong number of arguments for 'AI.MODELRUN' command"),
    ("missing model", _run("nope", "INPUTS", "x", "z", "OUTPUTS", "y", "h"), MODEL_EMPTY),
    ("model is a string", _run("str", "INPUTS", "x", "z", "OUTPUTS", "y", "h"), WRONGTYPE),
    ("TIMEOUT value", _run("m", "TIMEOUT", "x", "INPUTS", "x", "z", "OUTPUTS", "y", "h"),
     "ERR Invalid value for TIMEOUT"),
    ("TIMEOUT 0", _run("m", "TIMEOUT", 0, "INPUTS", "x", "z", "OUTPUTS", "y", "h"),
     "ERR Invalid value for TIMEOUT"),
    ("no INPUTS", _run("m", "FOO", "x", "z", "OUTPUTS", "y", "h"), "ERR INPUTS not specified"),
    ("INPUTS after TIMEOUT clause missing", _run("m", "TIMEOUT", 10, "x", "z", "OUTPUTS", "y"),
     "ERR INPUTS not specified"),
    ("input count", _run("m", "INPUTS", "x", "OUTPUTS", "y", "h"),
     "Number of keys given as INPUTS here does not match model definition"),
    ("output count", _run("m", "INPUTS", "x", "z", "OUTPUTS", "y"),
     "Number of keys given as OUTPUTS here does not match model definition"),
    ("OUTPUTS twice counts as an output",
     _run("m", "INPUTS", "x", "z", "OUTPUTS", "y", "h", "OUTPUTS"),
     "Number of keys given as OUTPUTS here does not match model definition"),
    ("missing input", _run("m", "INPUTS", "x", "nope", "OUTPUTS", "y", "h"), TENSOR_EMPTY),
    ("input is a string", _run("m", "INPUTS", "x", "str", "OUTPUTS", "y", "h"), WRONGTYPE),
]


@pytest.mark.parametrize("argv, expected", [row[1:] for row in MODELRUN_ERRORS],
                         ids=[row[0] for row in MODELRUN_ERRORS])
def test_modelrun_errors(r, mlp, argv, expected):
    r.set("str", "v")
    assert error_reply(r, *argv) == expected
    assert not r.exists("y", "h")

