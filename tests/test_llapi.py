"""The low-level API for other modules (spec/llapi.md): a C module of our own
(tests/llapi_client/llapi_client.c, built here with the system compiler
against csrc/redisai_llapi.h) loads after redisai and calls RedisAI_*
functions from its LLAPI.* commands; results are compared with AI.* commands
on the same keys. The client replies a failure as [code, message, one-line
message] of the RAI_Error it got."""
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import models
from conftest import ROOT, Server
from test_scripts import SRC, ENTRY, ENTRY_POINTS, scriptstore

pytestmark = models.IGNORE_TORCH_JIT_DEPRECATION

# RAI_ErrorCode values (enum order of the spec)
EMODELCREATE, EMODELRUN, ESCRIPTCREATE, ESCRIPTRUN = 3, 4, 9, 10
EUNSUPPORTEDBACKEND, EDAGBUILDER, EFINISHCTX, EKEYEMPTY = 11, 16, 18, 19
ONNX = 3
WRONGTYPE = b"WRONGTYPE Operation against a key holding the wrong kind of value"


def rai_error(code, text):
    text = text.encode() if isinstance(text, str) else text
    return [code, text, text]


@pytest.fixture(scope="module")
def client_module(tmp_path_factory):
    compiler = shutil.which("cc")
    if compiler is None:
        pytest.skip("no C compiler (cc) to build the test module that uses the low-level API")
    out = tmp_path_factory.mktemp("llapi_client") / "llapi_client.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-I", ROOT / "csrc",
                    "-o", out, ROOT / "tests/llapi_client/llapi_client.c",
                    ROOT / "csrc/redismodule_api.c", "-lpthread"], check=True)
    return out


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory, client_module):
    """Ours, then the client module: a module's `--loadmodule` arguments
    end at the next option, so the client follows as one."""
    server = Server(tmp_path_factory.mktemp("llapi"), module_args=("--loadmodule", client_module))
    server.start()
    yield server
    server.stop()


def tensor(r, key):
    return models.tensorget(r, key)


# ---------------------------------------------------------------- version, tensors

def test_version(r):
    assert r.execute_command("LLAPI.VERSION") == 1


def test_tensor_create_with_values_matches_tensorget(r):
    assert r.execute_command("LLAPI.TENSORCREATE", "f", "float", 2, 2, 3,
                             "DOUBLES", 1, 2, 3, 4, 5, 6.5) == b"OK"
    np.testing.assert_array_equal(tensor(r, "f"), np.array([[1, 2, 3], [4, 5, 6.5]], np.float32))
    assert r.execute_command("LLAPI.TENSORREAD", "f") == [2, [2, 3], 6, 4, 24,
                                                          [b"1", b"2", b"3", b"4", b"5", b"6.5"], -1]
    assert r.execute_command("LLAPI.TENSORCREATE", "i", "INT64", 1, 3, "LONGS", -1, 0, 7) == b"OK"
    np.testing.assert_array_equal(tensor(r, "i"), np.array([-1, 0, 7], np.int64))
    assert r.execute_command("LLAPI.TENSORREAD", "i") == [1, [3], 3, 8, 24, [-1, 0, 7], -1]


def test_tensor_create_is_zero_filled(r):
    assert r.execute_command("LLAPI.TENSORCREATE", "z", "INT16", 2, 2, 2) == b"OK"
    np.testing.assert_array_equal(tensor(r, "z"), np.zeros((2, 2), np.int16))
    assert r.execute_command("LLAPI.TENSORCREATE", "s", "STRING", 1, 2) == b"OK"
    assert r.execute_command("AI.TENSORGET", "s", "VALUES") == [b"", b""]


def test_tensor_create_unknown_type_is_null(r):
    with pytest.raises(Exception, match="TensorCreate failed"):
        r.execute_command("LLAPI.TENSORCREATE", "x", "FLOAT128", 1, 2)


def test_tensor_set_data_validates_like_a_blob(r):
    assert r.execute_command("LLAPI.TENSORCREATE", "s", "STRING", 1, 2, "DATA", b"ab\0c\0") == b"OK"
    assert r.execute_command("AI.TENSORGET", "s", "VALUES") == [b"ab", b"c"]
    assert r.execute_command("LLAPI.TENSORREAD", "s") == [1, [2], 2, 1, 5, [None, None], -1]
    assert r.execute_command("LLAPI.TENSORCREATE", "b", "BOOL", 1, 2, "DATA", b"\x01\x00") == b"OK"
    np.testing.assert_array_equal(tensor(r, "b"), np.array([True, False]))
    for dtype, blob in (("BOOL", b"\x01\x02"), ("STRING", b"ab\0c"), ("STRING", b"a\0b\0c\0"),
                        ("FLOAT", b"\0" * 7), ("FLOAT", b"\0" * 9)):
        with pytest.raises(Exception, match="setting the data failed"):
            r.execute_command("LLAPI.TENSORCREATE", "x", dtype, 1, 2, "DATA", blob)
    assert not r.exists("x")


@pytest.mark.parametrize("dtype, index, kind, value, expected", [
    ("FLOAT", 1, "DOUBLE", 2.5, [1, b"2.5"]),
    ("DOUBLE", 0, "DOUBLE", -1.25, [1, b"-1.25"]),
    ("INT32", 2, "LONG", 7, [1, 7]),
    ("UINT8", 0, "LONG", 255, [1, 255]),
    ("BOOL", 0, "LONG", 1, [1, 1]),
    ("BOOL", 0, "LONG", 2, [0, 0]),            # BOOL stays 0 or 1
    ("FLOAT", 0, "LONG", 3, [0, b"0"]),        # integer setters and getters: integer types
    ("INT8", 0, "DOUBLE", 3.0, [0, 0]),        # double ones: floating types
    ("FLOAT", 3, "DOUBLE", 1.0, [0, None]),    # index out of range
    ("FLOAT", -1, "DOUBLE", 1.0, [0, None]),
    ("STRING", 0, "LONG", 1, [0, None]),
])
def test_tensor_values_by_type(r, dtype, index, kind, value, expected):
    assert r.execute_command("LLAPI.TENSORSETVALUE", dtype, 3, index, kind, value) == expected


def test_tensor_concatenate_and_slice(r):
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.arange(6, 9, dtype=np.float32).reshape(1, 3)
    models.tensorset(r, "a", a)
    models.tensorset(r, "b", b)
    assert r.execute_command("LLAPI.TENSORCONCAT", "ab", "a", "b", "a") == b"OK"
    np.testing.assert_array_equal(tensor(r, "ab"), np.concatenate([a, b, a]))
    assert r.execute_command("LLAPI.TENSORSLICE", "mid", "ab", 1, 3) == b"OK"
    np.testing.assert_array_equal(tensor(r, "mid"), np.concatenate([a, b, a])[1:4])
    models.tensorset(r, "c", np.zeros((1, 2), np.float32))
    models.tensorset(r, "d", np.zeros((1, 3), np.int32))
    for bad in (("c",), ("d",)):                            # other dims, other type
        with pytest.raises(Exception, match="concatenation failed"):
            r.execute_command("LLAPI.TENSORCONCAT", "x", "a", *bad)
    for offset, length in ((4, 2), (-1, 1), (0, 6)):
        with pytest.raises(Exception, match="slicing failed"):
            r.execute_command("LLAPI.TENSORSLICE", "x", "ab", offset, length)


# ---------------------------------------------------------------- errors

def test_errors_keep_the_first_clone_and_clear(r, mlp):
    model_empty = rai_error(EKEYEMPTY, "ERR model key is empty")
    assert r.execute_command("LLAPI.ERRORS", "nokey", "nokey") == [1, 1, model_empty, model_empty, 0]
    r.set("str", "v")
    wrong = rai_error(EMODELRUN, WRONGTYPE)
    assert r.execute_command("LLAPI.ERRORS", "str", "nokey") == [1, 1, wrong, wrong, 0]
    script_empty = rai_error(EKEYEMPTY, "ERR script key is empty")
    assert r.execute_command("LLAPI.ERRORS", "m", "nokey") == [0, 1, script_empty, script_empty, 0]
    script_wrong = rai_error(ESCRIPTRUN, WRONGTYPE)
    assert r.execute_command("LLAPI.ERRORS", "m", "m") == [0, 1, script_wrong, script_wrong, 0]


# ---------------------------------------------------------------- models

def expected_mlp(r):
    """The MLP's outputs y and h on x and z, by AI.MODELEXECUTE."""
    assert models.modelexecute(r, "m", ["x", "z"], ["want_y", "want_h"]) == b"OK"
    return [tensor(r, "want_y"), tensor(r, "want_h")]


@pytest.mark.parametrize("mode, thread", [("SYNC", b"main"), ("THREAD", b"other"),
                                          ("ASYNC", b"other")])
def test_modelrun_matches_modelexecute(r, mlp, mode, thread):
    want = expected_mlp(r)
    calls = models.info(r, "m")["calls"]
    assert r.execute_command("LLAPI.MODELRUN", mode, "m", 2, "x", "z", "y", "h") == [b"OK", thread]
    models.assert_results([tensor(r, "y"), tensor(r, "h")], want)
    stats = models.info(r, "m")          # the engine's statistics count LLAPI runs
    assert stats["calls"] == calls + 1 and stats["errors"] == 0


def test_async_runs_batch_with_commands(r, mlp, blobs, shared_server):
    """One engine: with MINBATCHSIZE 10, a client's 5 rows run only once an
    LLAPI request brings 5 more."""
    want = expected_mlp(r)
    assert models.store(r, "mb", "ONNX", blobs("onnx_mlp"), "BATCHSIZE", 10,
                        "MINBATCHSIZE", 10) == b"OK"
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(models.outcome, models.modelexecute, shared_server.client(), "mb",
                              ["x", "z"], ["cy", "ch"])
        models.wait_blocked(r, 1)
        assert r.execute_command("LLAPI.MODELRUN", "ASYNC", "mb", 2, "x", "z", "y", "h") == \
            [b"OK", b"other"]
        assert waiting.result() == b"OK"
    models.assert_results([tensor(r, k) for k in ("y", "h", "cy", "ch")], want + want)
    assert models.info(r, "mb")["samples"] == 10


def test_modelrun_of_two_contexts(r, mlp):
    want = expected_mlp(r)
    calls = models.info(r, "m")["calls"]
    assert r.execute_command("LLAPI.MODELRUN", "BATCH", "m", 2, "x", "z", "y", "h") == [b"OK", b"main"]
    models.assert_results([tensor(r, k) for k in ("y", "h", "y.1", "h.1")], want + want)
    assert models.info(r, "m")["calls"] == calls + 2


@pytest.mark.parametrize("mode", ["SYNC", "THREAD", "ASYNC"])
def test_modelrun_backend_error_matches_modelexecute(r, mlp, mode):
    models.tensorset(r, "ix", np.zeros((5, 4), np.int32))
    with pytest.raises(Exception) as executed:
        models.modelexecute(r, "m", ["ix", "z"], ["y", "h"])
    errors = models.info(r, "m")["errors"]
    reply = r.execute_command("LLAPI.MODELRUN", mode, "m", 2, "ix", "z", "y", "h")
    assert reply[0] == EMODELRUN and reply[1].decode() == str(executed.value)
    assert models.info(r, "m")["errors"] == errors + 1
    assert not r.exists("y")


def test_modelrun_of_no_contexts(r, mlp):
    assert r.execute_command("LLAPI.MODELRUN", "NOTHING", "m", 2, "x", "z", "y", "h") == \
        rai_error(EMODELRUN, "ERR Nothing to run")


def test_modelrun_with_missing_inputs_fails(r, mlp):
    reply = r.execute_command("LLAPI.MODELRUN", "SYNC", "m", 1, "x", "y", "h")
    assert reply[0] == EMODELRUN and reply[1]


def test_modelrun_key_errors(r):
    assert r.execute_command("LLAPI.MODELRUN", "SYNC", "nokey", 0, "out") == \
        rai_error(EKEYEMPTY, "ERR model key is empty")
    r.set("str", "v")
    assert r.execute_command("LLAPI.MODELRUN", "ASYNC", "str", 0, "out") == rai_error(EMODELRUN, WRONGTYPE)


def test_modelcreate_builds_runs_and_serializes(r, mlp, blobs):
    want = expected_mlp(r)
    reply = r.execute_command("LLAPI.MODELCREATE", ONNX, "CPU", blobs("onnx_mlp"), 2, "x", "z", "y", "h")
    assert reply == [b"OK", b"main"]
    models.assert_results([tensor(r, "y"), tensor(r, "h")], want)


def test_modelcreate_with_batching_options_batches(r, mlp, blobs):
    want = expected_mlp(r)
    reply = r.execute_command("LLAPI.MODELCREATE", f"{ONNX}:10:5:0", "CPU", blobs("onnx_mlp"),
                              2, "x", "z", "y", "h")
    assert reply == [b"OK", b"main"]
    models.assert_results([tensor(r, "y"), tensor(r, "h")], want)


@pytest.mark.parametrize("backend, device, expected", [
    ("7", "CPU", [EUNSUPPORTEDBACKEND, "ERR Unsupported backend"]),
    ("-1", "CPU", [EUNSUPPORTEDBACKEND, "ERR Unsupported backend"]),
    ("3", "TPU", [EMODELCREATE, "ERR unsupported device"]),
    ("1:4:0:0", "CPU", [EMODELCREATE, "ERR Auto-batching not supported by the TFLITE backend"]),
    ("3:0:4:0", "CPU", [EMODELCREATE, "ERR MINBATCHSIZE specified without BATCHSIZE"]),
    ("3:0:0:10", "CPU", [EMODELCREATE, "ERR MINBATCHTIMEOUT specified without BATCHSIZE"]),
    ("3:4:0:10", "CPU", [EMODELCREATE, "ERR MINBATCHTIMEOUT specified without MINBATCHSIZE"]),
])
def test_modelcreate_refuses_what_modelstore_refuses(r, blobs, backend, device, expected):
    reply = r.execute_command("LLAPI.MODELCREATE", backend, device, blobs("onnx_mlp"), 0, "out")
    assert reply == rai_error(*expected)


def test_modelcreate_errors(r):
    with pytest.raises(Exception) as stored:
        models.store(r, "bad", "ONNX", b"not a model")
    reply = r.execute_command("LLAPI.MODELCREATE", ONNX, "CPU", b"not a model", 0, "out")
    assert reply[0] == EMODELCREATE and reply[1].decode() == str(stored.value)


# ---------------------------------------------------------------- scripts

@pytest.fixture
def script(r):
    assert scriptstore(r, "s", SRC, ENTRY_POINTS) == b"OK"
    models.tensorset(r, "a", np.array([1, 2], np.float32))
    models.tensorset(r, "b", np.array([10, 20], np.float32))


@pytest.mark.parametrize("mode, thread", [("SYNC", b"main"), ("THREAD", b"other"),
                                          ("ASYNC", b"other")])
def test_scriptrun_matches_scriptrun_command(r, script, mode, thread):
    assert r.execute_command("AI.SCRIPTRUN", "s", "legacy_add", "INPUTS", "a", "b",
                             "OUTPUTS", "want") == b"OK"
    assert r.execute_command("LLAPI.SCRIPTRUN", mode, "s", "legacy_add", 2, "a", "b", 0,
                             "out") == [b"OK", thread]
    np.testing.assert_array_equal(tensor(r, "out"), tensor(r, "want"))
    # A list input fills the trailing List[Tensor] parameter.
    assert r.execute_command("LLAPI.SCRIPTRUN", mode, "s", "legacy_var", 1, "a", 2, "b", "b",
                             "var") == [b"OK", thread]
    np.testing.assert_array_equal(tensor(r, "var"), np.array([21, 42], np.float32))


@pytest.mark.parametrize("mode", ["SYNC", "ASYNC"])
def test_scriptrun_errors(r, script, mode):
    with pytest.raises(Exception) as executed:
        r.execute_command("AI.SCRIPTRUN", "s", "nope", "INPUTS", "a", "OUTPUTS", "y")
    reply = r.execute_command("LLAPI.SCRIPTRUN", mode, "s", "nope", 1, "a", 0, "out")
    assert reply[0] == ESCRIPTRUN and reply[1].decode() == str(executed.value)
    assert r.execute_command("LLAPI.SCRIPTRUN", mode, "nokey", "f", 0, 0, "out") == \
        rai_error(EKEYEMPTY, "ERR script key is empty")
    assert r.execute_command("LLAPI.SCRIPTRUN", mode, "a", "f", 0, 0, "out") == \
        rai_error(ESCRIPTRUN, WRONGTYPE)


REDIS_CALLING_SRC = f"""
def touch{ENTRY}:
    return tensors[0]

def count(a):
    redis.execute("INCR", "calls")
    return a
"""


@pytest.mark.parametrize("mode", ["SYNC", "THREAD", "ASYNC"])
def test_scriptrun_calling_redis_from_any_thread(r, mode):
    """SYNC runs on the main thread, which holds the server lock already."""
    assert scriptstore(r, "rs", REDIS_CALLING_SRC, ("touch",)) == b"OK"
    models.tensorset(r, "a", np.array([1, 2], np.float32))
    for _ in range(2):
        assert r.execute_command("LLAPI.SCRIPTRUN", mode, "rs", "count", 1, "a", 0, "out")[0] == b"OK"
    assert r.get("calls") == b"2"
    np.testing.assert_array_equal(tensor(r, "out"), tensor(r, "a"))


def test_scriptcreate_runs_legacy_functions(r, script):
    assert r.execute_command("LLAPI.SCRIPTCREATE", "CPU", SRC, "legacy_add", 2, "a", "b",
                             "out") == [b"OK", b"main"]
    np.testing.assert_array_equal(tensor(r, "out"), np.array([11, 22], np.float32))
    reply = r.execute_command("LLAPI.SCRIPTCREATE", "CPU", "def f(a):\n    return a +", "f", 0, "o")
    assert reply[0] == ESCRIPTCREATE and reply[1] and b"\n" not in reply[2]
    assert r.execute_command("LLAPI.SCRIPTCREATE", "TPU", SRC, "legacy_add", 0, "o") == \
        rai_error(ESCRIPTCREATE, "ERR unsupported device")


# ---------------------------------------------------------------- DAGs

MLP_OPS = "|> AI.MODELEXECUTE m INPUTS 2 x z OUTPUTS 2 y h |> AI.TENSORGET y"


def test_dag_from_string_matches_dagexecute(r, mlp):
    r.execute_command("AI.DAGEXECUTE", "LOAD", 2, "x", "z", "PERSIST", 1, "y",
                      "|>", "AI.MODELEXECUTE", "m", "INPUTS", 2, "x", "z", "OUTPUTS", 2, "y", "h")
    assert r.execute_command("LLAPI.DAG", "p", "LOAD", "x", "x", "LOAD", "z", "z",
                             "OPS", MLP_OPS) == 1
    models.assert_results([tensor(r, "p0")], [tensor(r, "y")])


def test_dag_from_string_with_scripts_and_tensorset(r, script):
    ops = ("|> AI.TENSORSET t FLOAT 2 VALUES 1 2 "
           "|> AI.SCRIPTEXECUTE s add INPUTS 2 t t OUTPUTS 1 u |> AI.TENSORGET u |> AI.TENSORGET t")
    assert r.execute_command("LLAPI.DAG", "p", "OPS", ops) == 2
    np.testing.assert_array_equal(tensor(r, "p0"), np.array([2, 4], np.float32))
    np.testing.assert_array_equal(tensor(r, "p1"), np.array([1, 2], np.float32))


def test_dag_built_op_by_op(r, mlp, script):
    want = expected_mlp(r)
    assert r.execute_command("LLAPI.DAG", "p", "LOAD", "in", "x", "SET", "other", "z",
                             "MODEL", "m", 2, "in", "other", 2, "y", "h",
                             "SCRIPT", "s", "legacy_add", 2, "y", "y", 1, "y2",
                             "GET", "y", "GET", "y2", "GET", "in") == 3
    models.assert_results([tensor(r, "p0"), tensor(r, "p1"), tensor(r, "p2")],
                          [want[0], want[0] * 2, tensor(r, "x")])


def test_dag_with_only_tensor_ops_completes(r):
    models.tensorset(r, "a", np.array([3], np.int8))
    assert r.execute_command("LLAPI.DAG", "p", "SET", "t", "a", "GET", "t") == 1
    np.testing.assert_array_equal(tensor(r, "p0"), np.array([3], np.int8))


@pytest.mark.parametrize("args, expected", [
    (("OPS", "AI.TENSORGET x"), "DAG op should start with: '|>' "),
    (("OPS", "|> AI.NOPE x"), "Unsupported command within DAG"),
    (("OPS", "|> AI.TENSORGET"), "wrong number of arguments for 'AI.TENSORGET' command"),
    (("OPS", "|> AI.MODELEXECUTE nokey INPUTS 1 a OUTPUTS 1 b"), "ERR model key is empty"),
    (("OPS", "|> AI.MODELRUN m INPUTS x z OUTPUTS y"),
     "Deprecated AI.MODELRUN cannot be used in AI.DAGEXECUTE command"),
    (("OPS", "|> AI.MODELEXECUTE m INPUTS 1 x OUTPUTS 2 y h"),
     "Number of keys given as INPUTS here does not match model definition"),
    (("MODEL", "m", 1, "x", 2, "y", "h"),
     "Number of keys given as INPUTS does not match model definition"),
    (("MODEL", "m", 2, "x", "z", 1, "y"),
     "Number of keys given as OUTPUTS does not match model definition"),
    ((), "ERR DAG is empty"),
    (("GET", "nowhere"), "ERR INPUT key cannot be found in DAG"),
    (("LOAD", "x", "x", "MODEL", "m", 2, "x", "z", 2, "y", "h"),
     "ERR INPUT key cannot be found in DAG"),
])
def test_dag_build_errors(r, mlp, args, expected):
    assert r.execute_command("LLAPI.DAG", "p", *args) == rai_error(EDAGBUILDER, expected)


def test_dag_refuses_a_second_load_of_a_name(r, mlp):
    with pytest.raises(Exception, match="DAGLoadTensor refused"):
        r.execute_command("LLAPI.DAG", "p", "LOAD", "x", "x", "LOAD", "x", "z")


def test_dag_run_error_is_the_failed_op(r, mlp):
    models.tensorset(r, "ix", np.zeros((5, 4), np.int32))
    with pytest.raises(Exception) as executed:
        models.modelexecute(r, "m", ["ix", "z"], ["y", "h"])
    reply = r.execute_command("LLAPI.DAG", "p", "LOAD", "x", "ix", "LOAD", "z", "z", "OPS", MLP_OPS)
    assert reply[0] == EMODELRUN and reply[1].decode() == str(executed.value)
    assert not r.exists("p0")


def test_finish_ctx_of_the_other_kind_of_run(r, mlp, script):
    assert r.execute_command("LLAPI.MODELRUN", "MISUSE", "m", 2, "x", "z", "y", "h") == \
        rai_error(EFINISHCTX, "Finish ctx is not a script run ctx")
    assert r.execute_command("LLAPI.SCRIPTRUN", "MISUSE", "s", "legacy_add", 2, "a", "b", 0,
                             "out") == rai_error(EFINISHCTX, "Finish ctx is not a model run ctx")


def test_finish_ctx_of_a_dag_is_not_a_run_ctx(r, mlp):
    assert r.execute_command("LLAPI.DAG", "p", "LOAD", "x", "x", "LOAD", "z", "z", "OPS", MLP_OPS,
                             "MISUSE") == [rai_error(EFINISHCTX, "Finish ctx is not a model run ctx"),
                                           rai_error(EFINISHCTX, "Finish ctx is not a script run ctx")]
