"""Test models, built at test time with the real frameworks, and reference
runners that execute them with the same frameworks in the test process; then
the helpers that store, feed and run them on a server (the fixtures that use
them are in conftest.py: blobs, mlp, slow, chunk_size).

Each builder returns the serialized blob the module stores. The heavy
frameworks (TensorFlow above all) are imported only by the builders that need
them, so a run that selects no TF test never pays for the import."""
import io
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
from redis.exceptions import ResponseError

import conftest
from test_tensor import NUMPY_DTYPES, wire_error

SEED = 1234

# ONNX element types for the RedisAI tensor types (tensors.md).
ONNX_IDENTITY_TYPES = ("FLOAT", "DOUBLE", "INT8", "INT16", "INT32", "INT64",
                       "UINT8", "UINT16", "BOOL", "STRING")


# ---------------------------------------------------------------- ONNX

ANY_2D = ["d0", "d1"]       # symbolic dimensions: any 2-D shape

def _onnx_model(graph):
    import onnx
    from onnx import helper
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="redisai-tests")
    model.ir_version = 8            # old enough for any recent ONNX Runtime
    onnx.checker.check_model(model)
    return model.SerializeToString()


def onnx_mlp():
    """Two inputs, two outputs: x [N,4], z [N,3] ->
    y = relu(x@W1+b1)@W2+b2 + z  [N,3],  h = relu(x@W1+b1)  [N,8]."""
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(SEED)
    weights = {"W1": rng.standard_normal((4, 8)), "b1": rng.standard_normal(8),
               "W2": rng.standard_normal((8, 3)), "b2": rng.standard_normal(3)}
    init = [numpy_helper.from_array(w.astype(np.float32), name) for name, w in weights.items()]
    nodes = [helper.make_node("MatMul", ["x", "W1"], ["xw1"]),
             helper.make_node("Add", ["xw1", "b1"], ["pre"]),
             helper.make_node("Relu", ["pre"], ["h"]),
             helper.make_node("MatMul", ["h", "W2"], ["hw2"]),
             helper.make_node("Add", ["hw2", "b2"], ["lin"]),
             helper.make_node("Add", ["lin", "z"], ["y"])]
    f32 = TensorProto.FLOAT
    graph = helper.make_graph(
        nodes, "mlp",
        [helper.make_tensor_value_info("x", f32, ["N", 4]),
         helper.make_tensor_value_info("z", f32, ["N", 3])],
        [helper.make_tensor_value_info("y", f32, ["N", 3]),
         helper.make_tensor_value_info("h", f32, ["N", 8])],
        init)
    return _onnx_model(graph)


def onnx_large():
    """y = x @ W with W [2048, 4096] float: a 32 MiB model."""
    from onnx import TensorProto, helper, numpy_helper
    weights = np.random.default_rng(SEED).standard_normal((2048, 4096)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])], "large",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2048])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4096])],
        [numpy_helper.from_array(weights, "W")])
    return _onnx_model(graph)


def onnx_slow():
    """x [1,64], n (INT64 scalar) -> y = x after n steps of tanh(x @ W): a run
    as long as n says (ONNX Runtime checks its terminate flag between steps)."""
    from onnx import TensorProto, helper, numpy_helper
    weights = (np.random.default_rng(SEED).standard_normal((64, 64)) / 8).astype(np.float32)
    f32 = TensorProto.FLOAT
    body = helper.make_graph(
        [helper.make_node("MatMul", ["x_in", "W"], ["xw"]),
         helper.make_node("Tanh", ["xw"], ["x_out"]),
         helper.make_node("Identity", ["cond_in"], ["cond_out"])], "step",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("x_in", f32, [1, 64])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("x_out", f32, [1, 64])])
    graph = helper.make_graph(
        [helper.make_node("Loop", ["n", "", "x"], ["y"], body=body)], "slow",
        [helper.make_tensor_value_info("x", f32, [1, 64]),
         helper.make_tensor_value_info("n", TensorProto.INT64, [])],
        [helper.make_tensor_value_info("y", f32, [1, 64])],
        [numpy_helper.from_array(weights, "W")])
    return _onnx_model(graph)


def onnx_sum(n=5):
    """n float inputs i0..i{n-1} of one 2-D shape, one output s = their sum."""
    from onnx import TensorProto, helper
    names = [f"i{k}" for k in range(n)]
    graph = helper.make_graph(
        [helper.make_node("Sum", names, ["s"])], "sum",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, ANY_2D) for name in names],
        [helper.make_tensor_value_info("s", TensorProto.FLOAT, ANY_2D)])
    return _onnx_model(graph)


def onnx_identity(dtype, dims=tuple(ANY_2D)):
    """Input -> output unchanged, for one RedisAI dtype (any 2-D shape unless
    `dims` fixes it)."""
    from onnx import TensorProto, helper
    elem = getattr(TensorProto, dtype)
    graph = helper.make_graph(
        [helper.make_node("Identity", ["input"], ["output"])], f"identity_{dtype.lower()}",
        [helper.make_tensor_value_info("input", elem, dims)],
        [helper.make_tensor_value_info("output", elem, dims)])
    return _onnx_model(graph)


def onnx_batch_probe(dtype):
    """2-D x -> y = x, and n = [N, ..., N] (int64, N = dim 0 of x): each
    request of a batch finds the batch's total size in its rows of n."""
    from onnx import TensorProto, helper, numpy_helper
    elem = getattr(TensorProto, dtype)
    nodes = [helper.make_node("Identity", ["x"], ["y"]),
             helper.make_node("Shape", ["x"], ["shape"]),
             helper.make_node("Gather", ["shape", "zero"], ["rows"]),        # N
             helper.make_node("Gather", ["shape", "first"], ["dim0"]),       # [N]
             helper.make_node("Expand", ["rows", "dim0"], ["n"])]
    graph = helper.make_graph(
        nodes, f"batch_probe_{dtype.lower()}",
        [helper.make_tensor_value_info("x", elem, ANY_2D)],
        [helper.make_tensor_value_info("y", elem, ANY_2D),
         helper.make_tensor_value_info("n", TensorProto.INT64, ["d0"])],
        [numpy_helper.from_array(np.array(0, np.int64), "zero"),
         numpy_helper.from_array(np.array([0], np.int64), "first")])
    return _onnx_model(graph)


def onnx_total():
    """x [N,d] float -> t = the sum of x (0-dim): no dim 0 at all."""
    from onnx import TensorProto, helper
    graph = helper.make_graph(
        [helper.make_node("ReduceSum", ["x"], ["t"], keepdims=0)], "total",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ANY_2D)],
        [helper.make_tensor_value_info("t", TensorProto.FLOAT, [])])
    return _onnx_model(graph)


def onnx_row_index():
    """2-D float x -> i = [0, 1, ..., N-1] (int64): each request of a batch
    finds where its rows were in the batch."""
    from onnx import TensorProto, helper, numpy_helper
    nodes = [helper.make_node("Shape", ["x"], ["shape"]),
             helper.make_node("Gather", ["shape", "zero"], ["rows"]),
             helper.make_node("Range", ["zero", "rows", "one"], ["i"])]
    graph = helper.make_graph(
        nodes, "row_index",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ANY_2D)],
        [helper.make_tensor_value_info("i", TensorProto.INT64, ["d0"])],
        [numpy_helper.from_array(np.array(0, np.int64), "zero"),
         numpy_helper.from_array(np.array(1, np.int64), "one")])
    return _onnx_model(graph)


def onnx_column_sums():
    """x [N,d] float -> s = sums over dim 0 [1,d]: dim 0 is not the batch's."""
    from onnx import TensorProto, helper, numpy_helper
    graph = helper.make_graph(
        [helper.make_node("ReduceSum", ["x", "axes"], ["s"], keepdims=1)], "column_sums",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ANY_2D)],
        [helper.make_tensor_value_info("s", TensorProto.FLOAT, [1, "d1"])],
        [numpy_helper.from_array(np.array([0], np.int64), "axes")])
    return _onnx_model(graph)


def onnx_with_sequence():
    """x [2-D] -> y = x (a tensor) and s = [x] (a sequence, not a tensor)."""
    from onnx import TensorProto, helper
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"]),
         helper.make_node("SequenceConstruct", ["x"], ["s"])], "with_sequence",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ANY_2D)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ANY_2D),
         helper.make_tensor_sequence_value_info("s", TensorProto.FLOAT, ANY_2D)])
    return _onnx_model(graph)


def onnx_external_weights(location):
    """y = x @ W, W [4,3] float stored in the external file `location` (the
    raw little-endian data of W is returned with the blob)."""
    from onnx import TensorProto, helper, numpy_helper
    from onnx.external_data_helper import set_external_data
    weights = np.arange(12, dtype=np.float32).reshape(4, 3)
    w = numpy_helper.from_array(weights, "W")
    set_external_data(w, location=location)
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])], "external",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString(), weights.tobytes()


def onnx_run(blob, *arrays):
    """The model run by ONNX Runtime in this process. STRING tensors are
    object arrays of bytes on both sides (ONNX Runtime wants str)."""
    import onnxruntime as ort
    session = ort.InferenceSession(blob, providers=["CPUExecutionProvider"])
    feed = {i.name: _text(a) for i, a in zip(session.get_inputs(), arrays)}
    return [_bytes(a) for a in session.run(None, feed)]


def _text(array):
    if getattr(array, "dtype", None) != object:
        return array
    return np.array([e.decode() for e in array.reshape(-1)], dtype=object).reshape(array.shape)


def _bytes(array):
    if getattr(array, "dtype", None) != object:      # also sequences: lists
        return array
    return np.array([e.encode() for e in array.reshape(-1)], dtype=object).reshape(array.shape)


def onnx_names(blob):
    import onnxruntime as ort
    session = ort.InferenceSession(blob, providers=["CPUExecutionProvider"])
    return [i.name for i in session.get_inputs()], [o.name for o in session.get_outputs()]


# ---------------------------------------------------------------- TorchScript

def _torch_save(module):
    import torch
    buffer = io.BytesIO()
    torch.jit.save(module, buffer)
    return buffer.getvalue()


def torch_pair():
    """Scripted: forward(x [N,4], z [N,3]) -> Tuple[y [N,3], h [N,8]]."""
    import torch
    from torch import nn

    class Pair(nn.Module):
        def __init__(self):
            super().__init__()
            self.l1 = nn.Linear(4, 8)
            self.l2 = nn.Linear(8, 3)

        def forward(self, x, z):
            h = torch.relu(self.l1(x))
            return self.l2(h) + z, h

    torch.manual_seed(SEED)
    return _torch_save(torch.jit.script(Pair()))


def torch_traced():
    """Traced: forward(a [N,3], b [N,3]) -> a @ W + b, one Tensor."""
    import torch
    from torch import nn

    class Affine(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(3, 3))

        def forward(self, a, b):
            return a @ self.w + b

    torch.manual_seed(SEED)
    example = (torch.zeros(2, 3), torch.zeros(2, 3))
    return _torch_save(torch.jit.trace(Affine(), example))


def torch_slow():
    """Scripted: forward(x [N,64], n int64 scalar) applies n tanh(x@W) steps,
    so a test picks how long a run takes."""
    import torch
    from torch import nn

    class Slow(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(64, 64) / 8)

        def forward(self, x, n):
            for _ in range(int(n.item())):
                x = torch.tanh(x @ self.w)
            return x

    torch.manual_seed(SEED)
    return _torch_save(torch.jit.script(Slow()))


def torch_batch_probe():
    """Scripted: forward(a, b) -> (a, b, n), any dtypes and shapes; n is
    [N, ..., N] (int64, N = dim 0 of a; 0-dim 0 for a 0-dim a): each request of
    a batch finds the batch's total size in its rows of n."""
    import torch
    from torch import nn

    class Probe(nn.Module):
        def forward(self, a, b):
            dim0 = a.shape[:1]
            return a.clone(), b.clone(), torch.full(dim0, sum(dim0), dtype=torch.int64)

    return _torch_save(torch.jit.script(Probe()))


def torch_tensor_and_int():
    """Scripted: forward(x) -> Tuple[Tensor, int]: one Tensor member."""
    import torch
    from torch import nn
    from typing import Tuple

    class TensorAndInt(nn.Module):
        def forward(self, x) -> Tuple[torch.Tensor, int]:
            return x + 1, 7

    return _torch_save(torch.jit.script(TensorAndInt()))


def torch_load(blob):
    import torch
    return torch.jit.load(io.BytesIO(blob))


def torch_run(blob, *arrays):
    import torch
    with torch.no_grad():
        result = torch_load(blob)(*[torch.from_numpy(a) for a in arrays])
    result = result if isinstance(result, tuple) else (result,)
    return [t.numpy() for t in result]


def torch_input_names(blob):
    return [a.name for a in torch_load(blob).forward.schema.arguments[1:]]


# ---------------------------------------------------------------- TensorFlow

def tf_mul(shape=None):
    """A frozen GraphDef: placeholders a, b (float, of `shape`), op mul = a * b."""
    import tensorflow as tf
    graph = tf.Graph()
    with graph.as_default():
        a = tf.compat.v1.placeholder(tf.float32, shape=shape, name="a")
        b = tf.compat.v1.placeholder(tf.float32, shape=shape, name="b")
        tf.multiply(a, b, name="mul")
    return graph.as_graph_def().SerializeToString()


def tf_sums():
    """A frozen GraphDef: placeholder a (float, any shape), ops copy = a,
    total = the sum of a (0-dim) and column_sums = sums over dim 0 ([1, ...])."""
    import tensorflow as tf
    graph = tf.Graph()
    with graph.as_default():
        a = tf.compat.v1.placeholder(tf.float32, name="a")
        tf.identity(a, name="copy")
        tf.reduce_sum(a, name="total")
        tf.reduce_sum(a, axis=0, keepdims=True, name="column_sums")
    return graph.as_graph_def().SerializeToString()


def tf_run(blob, inputs, outputs, *arrays):
    import tensorflow as tf
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(blob)
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    with tf.compat.v1.Session(graph=graph) as session:
        return session.run([f"{name}:0" for name in outputs],
                           {f"{name}:0": a for name, a in zip(inputs, arrays)})


# ---------------------------------------------------------------- TFLite

def tflite_pair():
    """Converted from a tf.function: (x [2,3], y [2,3]) float ->
    (x * 2 + y, x - y)."""
    import tensorflow as tf

    class Pair(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([2, 3], tf.float32, name="x"),
                                      tf.TensorSpec([2, 3], tf.float32, name="y")])
        def __call__(self, x, y):
            return {"double_plus": x * 2.0 + y, "minus": x - y}

    module = Pair()
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [module.__call__.get_concrete_function()], module)
    return converter.convert()


def _tflite_interpreter(blob):
    from ai_edge_litert.interpreter import Interpreter
    interpreter = Interpreter(model_content=blob)
    interpreter.allocate_tensors()
    return interpreter


def tflite_run(blob, *arrays):
    """Inputs of other shapes than the model's resize it, as on the server."""
    interpreter = _tflite_interpreter(blob)
    details = interpreter.get_input_details()
    for detail, array in zip(details, arrays):
        interpreter.resize_tensor_input(detail["index"], array.shape)
    interpreter.allocate_tensors()
    for detail, array in zip(details, arrays):
        interpreter.set_tensor(detail["index"], array)
    interpreter.invoke()
    return [interpreter.get_tensor(d["index"]).copy() for d in interpreter.get_output_details()]


def tflite_names(blob):
    interpreter = _tflite_interpreter(blob)
    return ([d["name"] for d in interpreter.get_input_details()],
            [d["name"] for d in interpreter.get_output_details()])


# ---------------------------------------------------------------- on the server

MODEL_EMPTY = "ERR model key is empty"
NO_RUN_INFO = "ERR cannot find run info for key"
DEFAULT_CHUNK_SIZE = 535822336
TYPE_NAMES = {np.dtype(t): name for name, t in NUMPY_DTYPES.items()}
TF_IO = ("INPUTS", 2, "a", "b", "OUTPUTS", 1, "mul")    # the INPUTS/OUTPUTS clause of tf_mul

# torch.jit is deprecated upstream, but TorchScript is the TORCH backend's format:
# `pytestmark = models.IGNORE_TORCH_JIT_DEPRECATION` in a file that builds or runs it.
IGNORE_TORCH_JIT_DEPRECATION = pytest.mark.filterwarnings(
    r"ignore:`torch\.jit\.:DeprecationWarning")


class Blobs:
    """Model blobs by builder name (a function of this module), each built
    once per session: blobs("onnx_mlp"), blobs("onnx_identity", "FLOAT")."""

    def __init__(self):
        self.cache = {}

    def __call__(self, builder, *args):
        if (builder, args) not in self.cache:
            self.cache[builder, args] = globals()[builder](*args)
        return self.cache[builder, args]


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


def wait_blocked(r, n):
    """Until at least n clients are blocked (queued or running requests)."""
    conftest.wait_until(lambda: r.info("clients")["blocked_clients"] >= n,
                        f"{n} blocked clients", interval=0.01)


def assert_alive(server):
    assert server.proc.poll() is None, f"server died:\n{server.log()[-3000:]}"
    assert server.client().ping()


def assert_results(actual, expected):
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected):
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def resp(*args):
    """One command in the RESP wire format."""
    parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


# How a command uses each key (COMMAND GETKEYSANDFLAGS), spec/commands.md
# "Recommended Redis 7 key specifications".
READ = {"RO", "access"}             # tensors read, models and scripts run, LOAD
WRITE = {"OW", "update"}            # stored whole: tensors, models, scripts, outputs, PERSIST
READ_WRITE = {"RW", "access", "update"}     # SCRIPTEXECUTE KEYS
DELETE = {"RM", "delete"}
ROUTE = {"RO"}                      # AI.INFO and ROUTING: the value is not used


def keys_and_flags(r, *argv):
    return [(key.decode(), {f.decode() for f in flags})
            for key, flags in r.execute_command("COMMAND GETKEYSANDFLAGS", *argv)]


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
    "onnx": Case("ONNX", "onnx_mlp", mlp_inputs, lambda blob, a: onnx_run(blob, *a),
                 lambda blob: (["x", "z"], ["y", "h"])),
    "torch": Case("TORCH", "torch_pair", mlp_inputs, lambda blob, a: torch_run(blob, *a),
                  lambda blob: (["x", "z"], ["", ""])),
    "torch_traced": Case("TORCH", "torch_traced", pair_inputs,
                         lambda blob, a: torch_run(blob, *a),
                         lambda blob: (["a", "b"], [""])),
    "tf": Case("TF", "tf_mul", pair_inputs,
               lambda blob, a: tf_run(blob, ["a", "b"], ["mul"], *a),
               lambda blob: (["a", "b"], ["mul"]), TF_IO),
    "tflite": Case("TFLITE", "tflite_pair", pair_inputs,
                   lambda blob, a: tflite_run(blob, *a), tflite_names),
}
BY_BACKEND = {case.backend: case for name, case in CASES.items() if name != "torch_traced"}


class Slow:
    """The slow TorchScript model at `slow`: `run(client, ms)` is one request
    that keeps the CPU queue busy for about `ms` milliseconds."""
    steps_per_ms = {}           # per server (its run_id), measured once

    def __init__(self, r, blobs):
        assert store(r, "slow", "TORCH", blobs("torch_slow")) == b"OK"
        tensorset(r, "slow_x", np.ones((1, 64), np.float32))
        self.server = r.info("server")["run_id"]    # ports are reused, run ids are not
        if self.server not in self.steps_per_ms:
            steps = 2000
            tensorset(r, "slow_n", np.array(steps, np.int64))
            for _ in range(3):      # TorchScript optimises a module in its first runs
                assert r.execute_command("AI.INFO", "slow", "RESETSTAT") == b"OK"
                assert modelexecute(r, "slow", ["slow_x", "slow_n"], ["slow_y"]) == b"OK"
            ms = max(info(r, "slow")["duration"] / 1000, 0.01)
            self.steps_per_ms[self.server] = steps / ms
        assert r.execute_command("AI.INFO", "slow", "RESETSTAT") == b"OK"

    def run(self, client, ms, *extra):
        return modelexecute(client, "slow", self.inputs(client, ms), ["slow_y"], *extra)

    def inputs(self, client, ms):
        """Sets the inputs of a ~ms run; returns their keys."""
        n = f"slow_n{ms}"
        tensorset(client, n, np.array(int(ms * self.steps_per_ms[self.server]), np.int64))
        return ["slow_x", n]


IN_TX = "ERR Cannot run RedisAI command within a transaction or a LUA script"


def assert_refused_in_transaction(r, argv):
    """An execution command is refused with IN_TX inside MULTI (the rest of the
    transaction runs) and from Lua."""
    pipe = r.pipeline(transaction=True)
    pipe.execute_command(*argv)
    pipe.ping()
    refused, pong = pipe.execute(raise_on_error=False)
    assert wire_error(refused) == IN_TX and pong is True
    with pytest.raises(ResponseError) as exc:
        r.eval("return redis.pcall(unpack(ARGV))", 0, *argv)
    assert wire_error(exc.value) == IN_TX
