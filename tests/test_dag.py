"""DAG commands against spec/dag.md: AI.DAGEXECUTE / AI.DAGEXECUTE_RO and the
deprecated AI.DAGRUN / AI.DAGRUN_RO. The flagship fraud-detection pipeline
(an ONNX model and a TorchScript pre-processing script, built here) from
concurrent clients, the pre-execution error table in check order, reply
semantics (SSA names, NA, persist failures, TIMEOUT, statistics, replicas,
AOF, getkeys), parts on two devices running concurrently, and robustness
(disconnects, deletions while queued, memory).

Every result is compared with the frameworks run in this process."""
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from redis.exceptions import ResponseError

import models
from conftest import wait_info, wait_until
from models import (READ, ROUTE, TYPE_NAMES, WRITE, assert_alive, assert_refused_in_transaction,
                    info, keys_and_flags, mlp_inputs, modelexecute, outcome, resp, store, tensorget,
                    tensorset, wait_blocked)
from test_tensor import (BAD_FORMAT, BAD_TYPE, BOTH_FORMATS, BAD_COUNT, TENSOR_EMPTY, WRONGTYPE,
                         error_reply, wire_error)

pytestmark = models.IGNORE_TORCH_JIT_DEPRECATION

SEP = "|>"
F = 8                       # raw transaction features; the script makes 2F model features


# ================================================================ helpers

def dag(r, header, *ops, command="AI.DAGEXECUTE"):
    """`command <header> |> op |> op ...`; each op is an argument tuple."""
    argv = [command, *header]
    for op in ops:
        argv += [SEP, *op]
    return r.execute_command(*argv)


def t_set(name, array):
    return ("AI.TENSORSET", name, TYPE_NAMES[array.dtype], *array.shape, "BLOB", array.tobytes())


def t_set_values(name, array):
    """TENSORSET with VALUES: float32 -> Python float is exact, and so is the way back."""
    return ("AI.TENSORSET", name, TYPE_NAMES[array.dtype], *array.shape, "VALUES",
            *[repr(float(v)) for v in array.ravel()])


def t_get(name, *fmt):
    return ("AI.TENSORGET", name, *fmt)


def m_exec(key, ins, outs):
    return ("AI.MODELEXECUTE", key, "INPUTS", len(ins), *ins, "OUTPUTS", len(outs), *outs)


def s_exec(key, fn, ins, outs):
    return ("AI.SCRIPTEXECUTE", key, fn, "INPUTS", len(ins), *ins, "OUTPUTS", len(outs), *outs)


def values(reply, shape):
    """A FLOAT TENSORGET ... VALUES reply (bulk strings) as an array."""
    assert all(isinstance(v, bytes) for v in reply), reply
    return np.array([float(v) for v in reply], np.float32).reshape(shape)


def close(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)


def is_error(element, text=None):
    return isinstance(element, ResponseError) and (text is None or wire_error(element) == text)


def mlp_ref(blobs, x, z):
    return models.onnx_run(blobs("onnx_mlp"), x, z)


def slow_steps(slow, ms):
    """The step count input that keeps the slow model busy for about ms."""
    return np.array(int(ms * slow.steps_per_ms[slow.server]), np.int64)


# ---------------------------------------------------------------- the fraud pipeline

SCRIPT = """
def pre(tensors: List[Tensor], keys: List[str], args: List[str]):
    tx = tensors[0]
    ref = tensors[1]
    return torch.cat([(tx - ref[0:1]) / ref[1:2], torch.log1p(torch.abs(tx))], dim=1)

def add(tensors: List[Tensor], keys: List[str], args: List[str]):
    return tensors[0] + tensors[1]
"""


def onnx_fraud():
    """feat [N, 2F] -> score = sigmoid(relu(feat @ W1 + b1) @ W2 + b2)  [N, 1]."""
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(77)
    weights = {"W1": rng.standard_normal((2 * F, 16)) / 3, "b1": rng.standard_normal(16) / 3,
               "W2": rng.standard_normal((16, 1)) / 3, "b2": rng.standard_normal(1) / 3}
    init = [numpy_helper.from_array(w.astype(np.float32), name) for name, w in weights.items()]
    nodes = [helper.make_node("MatMul", ["feat", "W1"], ["a"]),
             helper.make_node("Add", ["a", "b1"], ["pre"]),
             helper.make_node("Relu", ["pre"], ["h"]),
             helper.make_node("MatMul", ["h", "W2"], ["l"]),
             helper.make_node("Add", ["l", "b2"], ["lin"]),
             helper.make_node("Sigmoid", ["lin"], ["score"])]
    f32 = TensorProto.FLOAT
    graph = helper.make_graph(nodes, "fraud",
                              [helper.make_tensor_value_info("feat", f32, ["N", 2 * F])],
                              [helper.make_tensor_value_info("score", f32, ["N", 1])], init)
    return models._onnx_model(graph)


class Fraud:
    """The fraud model blob and the reference pipeline run in this process."""

    def __init__(self):
        import onnxruntime as ort
        import torch
        self.blob = onnx_fraud()
        self.session = ort.InferenceSession(self.blob, providers=["CPUExecutionProvider"])
        self.unit = torch.jit.CompilationUnit(SCRIPT)
        self.lock = threading.Lock()

    def setup(self, r, u):
        """model{u} and pre{u} for tenant u."""
        assert store(r, f"model{{{u}}}", "ONNX", self.blob) == b"OK"
        assert r.execute_command("AI.SCRIPTSTORE", f"pre{{{u}}}", "CPU", "ENTRY_POINTS", 2,
                                 "pre", "add", "SOURCE", SCRIPT) == b"OK"

    @staticmethod
    def reference_data(rng):
        """[2, F]: per-feature mean and spread of the tenant's past transactions."""
        return np.stack([rng.standard_normal(F) * 3,
                         rng.uniform(0.5, 2.0, F)]).astype(np.float32)

    @staticmethod
    def transaction(rng):
        return (rng.standard_normal((1, F)) * 4).astype(np.float32)

    def features(self, tx, ref):
        import torch
        with torch.no_grad():
            return self.unit.pre([torch.from_numpy(tx), torch.from_numpy(ref)], [], []).numpy()

    def score(self, tx, ref):
        with self.lock:
            return self.session.run(None, {"feat": self.features(tx, ref)})[0]

    @staticmethod
    def dag(r, u, tx, ref_key, score_key, header=()):
        """The flagship DAG: LOAD the reference data, pre-process, score, persist."""
        return dag(r, ("LOAD", 1, ref_key, "PERSIST", 1, score_key, *header),
                   t_set_values("tx", tx),
                   s_exec(f"pre{{{u}}}", "pre", ["tx", ref_key], ["feat"]),
                   m_exec(f"model{{{u}}}", ["feat"], [score_key]),
                   t_get(score_key, "VALUES"))


@pytest.fixture(scope="module")
def fraud():
    return Fraud()


@pytest.fixture
def tenant(r, fraud):
    """Tenant 0 set up, its reference data at ref{0}; returns that data."""
    fraud.setup(r, 0)
    ref = Fraud.reference_data(np.random.default_rng(9))
    tensorset(r, "ref{0}", ref)
    return ref


# ================================================================ 1. the fraud-detection pipeline

def test_fraud_pipeline_from_32_concurrent_clients(r, shared_server, fraud):
    tenants, clients, rounds = 8, 32, 4
    for u in range(tenants):
        fraud.setup(r, u)
    start = threading.Barrier(clients)

    def one_client(c):
        u = c % tenants
        client = shared_server.client()
        rng = np.random.default_rng(1000 + c)
        ref, ref_key, score_key = Fraud.reference_data(rng), f"ref:{c}{{{u}}}", f"score:{c}{{{u}}}"
        tensorset(client, ref_key, ref)
        start.wait()
        results = []
        for _ in range(rounds):
            tx = Fraud.transaction(rng)
            reply = Fraud.dag(client, u, tx, ref_key, score_key)
            results.append((tx, ref, reply, tensorget(client, score_key)))
        return results

    with ThreadPoolExecutor(clients) as pool:
        results = [item for batch in pool.map(one_client, range(clients)) for item in batch]
    assert len(results) == clients * rounds
    for tx, ref, reply, persisted in results:
        assert reply[:3] == [b"OK", b"OK", b"OK"] and len(reply) == 4, reply
        expected = fraud.score(tx, ref)
        close(values(reply[3], (1, 1)), expected)
        assert persisted.dtype == np.float32 and persisted.shape == (1, 1)
        close(persisted, expected)
    for u in range(tenants):
        per_tenant = clients // tenants * rounds
        model_stats, script_stats = info(r, f"model{{{u}}}"), info(r, f"pre{{{u}}}")
        assert (model_stats["calls"], model_stats["errors"], model_stats["samples"]) == \
            (per_tenant, 0, per_tenant)
        assert (script_stats["calls"], script_stats["errors"]) == (per_tenant, 0)


def test_fraud_dag_leaves_only_the_persisted_key(r, fraud, tenant):
    before = set(r.keys())
    tx = Fraud.transaction(np.random.default_rng(1))
    reply = Fraud.dag(r, 0, tx, "ref{0}", "score{0}")
    close(values(reply[3], (1, 1)), fraud.score(tx, tenant))
    assert set(r.keys()) - before == {b"score{0}"}          # no tx, no feat
    np.testing.assert_array_equal(tensorget(r, "ref{0}"), tenant)


# ================================================================ 2. errors before execution

LOAD_MISSING = "ERR missing arguments after LOAD keyword in DAG command"
LOAD_COUNT = "ERR invalid or negative value found in number of keys to LOAD"
LOAD_MISMATCH = "ERR number of keys to LOAD into DAG does not match the number of given arguments"
PERSIST_RO = "ERR PERSIST cannot be specified in a read-only DAG"
PERSIST_MISSING = "ERR missing arguments after PERSIST keyword in DAG command"
PERSIST_COUNT = "ERR invalid or negative value found in number of keys to PERSIST"
PERSIST_UNIQUE = "ERR PERSIST keys must be unique"
PERSIST_MISMATCH = ("ERR number of keys to PERSIST after DAG execution does not match the "
                    "number of given arguments")
ROUTING_MISSING = "ERR Missing ROUTING value"
TIMEOUT_MISSING = "ERR No value provided for TIMEOUT"
TIMEOUT_INVALID = "ERR Invalid value for TIMEOUT"
UNEXPECTED = "ERR Invalid DAG command. Unexpected argument:  {}"         # two spaces
KEYWORD_REQUIRED = ("ERR AI.DAGEXECUTE and AI.DAGEXECUTE_RO commands must contain at least one "
                    "out of ROUTING, LOAD, PERSIST keywords")
EMPTY = "ERR DAG is empty"
TENSORGET_ARITY = "wrong number of arguments for 'AI.TENSORGET' command"
TENSORSET_ARITY = "wrong number of arguments for 'AI.TENSORSET' command"
TIMEOUT_IN_DAG = "ERR TIMEOUT not allowed within a DAG command"
SCRIPT_RO = "ERR AI.SCRIPTEXECUTE command cannot be specified in a read-only DAG"
INPUT_NOT_FOUND = "ERR INPUT key cannot be found in DAG"
PERSIST_NOT_FOUND = "ERR PERSIST key cannot be found in DAG"
UNSUPPORTED = "Unsupported command within DAG"

TS = "AI.TENSORSET a FLOAT 1 2 VALUES 1 2"
X = "AI.TENSORSET x FLOAT 1 4 VALUES 1 2 3 4"
Z = "AI.TENSORSET z FLOAT 1 3 VALUES 1 2 3"
ME = "AI.MODELEXECUTE m INPUTS 2 x z OUTPUTS 2 y h"
SE = "AI.SCRIPTEXECUTE s add INPUTS 2 x x OUTPUTS 1 w"
MR = "AI.MODELRUN m INPUTS x z OUTPUTS y h"
SR = "AI.SCRIPTRUN s add INPUTS x x OUTPUTS w"
DE = "AI.DAGEXECUTE ROUTING t"


def cmd(*parts):
    return " |> ".join(parts).split()


PRE_EXECUTION_ERRORS = [
    ("2-arity", ["AI.DAGEXECUTE", "PERSIST", "1", "a", "|>"],
     "ERR missing arguments for 'AI.DAGEXECUTE' command"),
    ("2-arity-ro", ["AI.DAGEXECUTE_RO", "LOAD", "1", "t", "|>"],
     "ERR missing arguments for 'AI.DAGEXECUTE_RO' command"),
    ("2'-arity-dagrun", ["AI.DAGRUN", "|>", "AI.TENSORGET"],
     "ERR wrong number of arguments for 'AI.DAGRUN' command"),
    ("2'-arity-dagrun-ro", ["AI.DAGRUN_RO", "|>", "AI.TENSORGET"],
     "ERR wrong number of arguments for 'AI.DAGRUN_RO' command"),
    ("3-load-last", cmd("AI.DAGEXECUTE ROUTING t TIMEOUT 9 LOAD"), LOAD_MISSING),
    ("3-load-count-only", cmd("AI.DAGEXECUTE ROUTING t TIMEOUT 9 LOAD 1"), LOAD_MISSING),
    ("4-load-count-text", cmd("AI.DAGEXECUTE LOAD x t", TS), LOAD_COUNT),
    ("4-load-count-zero", cmd("AI.DAGEXECUTE LOAD 0 t", TS), LOAD_COUNT),
    ("4-load-count-negative", cmd("AI.DAGEXECUTE LOAD -1 t", TS), LOAD_COUNT),
    ("4-load-count-decimal", cmd("AI.DAGEXECUTE LOAD 1.0 t", TS), LOAD_COUNT),
    ("5-load-missing-key", cmd("AI.DAGEXECUTE LOAD 1 nokey", "AI.TENSORGET nokey"), TENSOR_EMPTY),
    ("5-load-second-key-missing", cmd("AI.DAGEXECUTE LOAD 2 t nokey", "AI.TENSORGET t"),
     TENSOR_EMPTY),
    ("5-load-not-a-tensor", cmd("AI.DAGEXECUTE LOAD 1 str", "AI.TENSORGET str"), WRONGTYPE),
    ("5-load-a-model", cmd("AI.DAGEXECUTE LOAD 1 m", "AI.TENSORGET m"), WRONGTYPE),
    ("6-load-too-few-keys", cmd("AI.DAGEXECUTE ROUTING t LOAD 2 t"), LOAD_MISMATCH),
    ("7-persist-ro", cmd("AI.DAGEXECUTE_RO PERSIST 1 a", TS), PERSIST_RO),
    ("7-persist-dagrun-ro", cmd("AI.DAGRUN_RO PERSIST 1 a", TS), PERSIST_RO),
    ("7-persist-ro-before-its-count", cmd("AI.DAGEXECUTE_RO ROUTING t PERSIST x", TS), PERSIST_RO),
    ("8-persist-last", cmd("AI.DAGEXECUTE ROUTING t LOAD 1 t PERSIST"), PERSIST_MISSING),
    ("8-persist-count-only", cmd("AI.DAGEXECUTE ROUTING t LOAD 1 t PERSIST 1"), PERSIST_MISSING),
    ("9-persist-count-text", cmd("AI.DAGEXECUTE PERSIST x a", TS), PERSIST_COUNT),
    ("9-persist-count-zero", cmd("AI.DAGEXECUTE PERSIST 0 a", TS), PERSIST_COUNT),
    ("9-persist-count-negative", cmd("AI.DAGEXECUTE PERSIST -2 a", TS), PERSIST_COUNT),
    ("10-persist-duplicate", cmd("AI.DAGEXECUTE PERSIST 2 a a", TS), PERSIST_UNIQUE),
    ("11-persist-too-few-keys", cmd("AI.DAGEXECUTE ROUTING t PERSIST 2 a"), PERSIST_MISMATCH),
    ("12-routing-last", cmd("AI.DAGEXECUTE PERSIST 3 a b c ROUTING"), ROUTING_MISSING),
    ("13-timeout-last", cmd("AI.DAGEXECUTE ROUTING t PERSIST 1 a TIMEOUT"), TIMEOUT_MISSING),
    ("14-timeout-text", cmd("AI.DAGEXECUTE ROUTING t TIMEOUT soon", TS), TIMEOUT_INVALID),
    ("14-timeout-decimal", cmd("AI.DAGEXECUTE ROUTING t TIMEOUT 1.5", TS), TIMEOUT_INVALID),
    ("15-unknown-token", cmd("AI.DAGEXECUTE ROUTING t BAD_ARG", TS), UNEXPECTED.format("BAD_ARG")),
    ("15-repeated-routing", cmd("AI.DAGEXECUTE ROUTING t ROUTING t", TS),
     UNEXPECTED.format("ROUTING")),
    ("15-repeated-load", cmd("AI.DAGEXECUTE LOAD 1 t LOAD 1 t", TS), UNEXPECTED.format("LOAD")),
    ("15-repeated-persist", cmd("AI.DAGEXECUTE PERSIST 1 a PERSIST 1 b", TS),
     UNEXPECTED.format("PERSIST")),
    ("15-repeated-timeout", cmd("AI.DAGEXECUTE ROUTING t TIMEOUT 5 TIMEOUT 5", TS),
     UNEXPECTED.format("TIMEOUT")),
    ("15-keys-is-not-a-header", cmd("AI.DAGEXECUTE ROUTING t KEYS 1 t", TS),
     UNEXPECTED.format("KEYS")),
    ("15-trailing-separator", cmd(DE, TS) + ["|>"], UNEXPECTED.format("|>")),
    ("15-empty-op", cmd(DE, "", TS), UNEXPECTED.format("|>")),
    ("15-dagrun-unknown-token", cmd("AI.DAGRUN BAD_ARG", TS), UNEXPECTED.format("BAD_ARG")),
    ("16-no-keyword", cmd("AI.DAGEXECUTE TIMEOUT 10", TS), KEYWORD_REQUIRED),
    ("16-no-keyword-ro", cmd("AI.DAGEXECUTE_RO TIMEOUT 10", TS), KEYWORD_REQUIRED),
    ("16-no-header", cmd("AI.DAGEXECUTE", TS), KEYWORD_REQUIRED),
    ("17-no-op", cmd("AI.DAGEXECUTE ROUTING t LOAD 1 t"), EMPTY),
    ("17-no-op-dagrun", cmd("AI.DAGRUN LOAD 1 t"), EMPTY),
    ("18a-tensorget-no-name", cmd(DE, TS, "AI.TENSORGET"), TENSORGET_ARITY),
    ("18a-tensorget-too-many", cmd(DE, TS, "AI.TENSORGET a META BLOB extra"), TENSORGET_ARITY),
    ("18b-tensorget-format", cmd(DE, TS, "AI.TENSORGET a JSON"), BAD_FORMAT),
    ("18b-tensorget-blob-and-values", cmd(DE, TS, "AI.TENSORGET a BLOB VALUES"), BOTH_FORMATS),
    ("18c-tensorset-arity", cmd(DE, "AI.TENSORSET a FLOAT"), TENSORSET_ARITY),
    ("18c-tensorset-type", cmd(DE, "AI.TENSORSET a FLOAT8 1"), BAD_TYPE),
    ("18c-tensorset-values", cmd(DE, "AI.TENSORSET a FLOAT 2 VALUES 1"), BAD_COUNT),
    ("18d-model-missing", cmd(DE, X, Z, ME.replace(" m ", " nomodel ")),
     "ERR model key is empty"),
    ("18d-model-wrongtype", cmd(DE, X, Z, ME.replace(" m ", " t ")), WRONGTYPE),
    ("18d-model-arity", cmd(DE, X, Z, "AI.MODELEXECUTE m INPUTS 2 x z"),
     "ERR wrong number of arguments for 'AI.MODELEXECUTE' command"),
    ("18d-model-input-count", cmd(DE, X, Z, "AI.MODELEXECUTE m INPUTS 1 x OUTPUTS 2 y h"),
     "Number of keys given as INPUTS here does not match model definition"),
    ("18d-model-no-outputs", cmd(DE, X, Z, "AI.MODELEXECUTE m INPUTS 2 x z OUTPUT 2 y h"),
     "ERR OUTPUTS not specified"),
    ("18d-model-timeout", cmd(DE, X, Z, ME + " TIMEOUT 100"), TIMEOUT_IN_DAG),
    ("18e-script-in-ro", cmd("AI.DAGEXECUTE_RO ROUTING t", X, SE), SCRIPT_RO),
    ("18f-script-missing", cmd(DE, X, SE.replace(" s ", " noscript ")), "ERR script key is empty"),
    ("18f-script-wrongtype", cmd(DE, X, SE.replace(" s ", " m ")), WRONGTYPE),
    ("18f-script-unexpected", cmd(DE, X, "AI.SCRIPTEXECUTE s add INPUTS 1 x BAD"),
     "ERR Invalid AI.SCRIPTEXECUTE command. Unexpected argument: BAD"),
    ("18f-script-timeout", cmd(DE, X, SE + " TIMEOUT 100"), TIMEOUT_IN_DAG),
    ("18g-modelrun", cmd(DE, X, Z, MR),
     "Deprecated AI.MODELRUN cannot be used in AI.DAGEXECUTE command"),
    ("18g-scriptrun", cmd(DE, X, SR),
     "Deprecated AI.SCRIPTRUN cannot be used in AI.DAGEXECUTE command"),
    ("18g-modelrun-ro", cmd("AI.DAGEXECUTE_RO ROUTING t", X, Z, MR),
     "Deprecated AI.MODELRUN cannot be used in AI.DAGEXECUTE command"),
    ("18h-modelexecute", cmd("AI.DAGRUN", X, Z, ME),
     "AI.MODELEXECUTE cannot be used in a deprecated AI.DAGRUN command"),
    ("18h-scriptexecute", cmd("AI.DAGRUN", X, SE),
     "AI.SCRIPTEXECUTE cannot be used in a deprecated AI.DAGRUN command"),
    ("18h-modelexecute-ro", cmd("AI.DAGRUN_RO", X, Z, ME),
     "AI.MODELEXECUTE cannot be used in a deprecated AI.DAGRUN command"),
    ("18i-unknown-op", cmd(DE, "AI.NOCOMMAND a FLOAT 1"), UNSUPPORTED),
    ("18i-no-prefix", cmd(DE, "TENSORSET a FLOAT 1"), UNSUPPORTED),
    ("18i-other-module-command", cmd(DE, "AI.INFO m"), UNSUPPORTED),
    ("18i-nested-dag", cmd(DE, "AI.DAGEXECUTE ROUTING t"), UNSUPPORTED),
    ("18-first-op-first", cmd(DE, "AI.TENSORGET a JSON", "AI.NOCOMMAND"), BAD_FORMAT),
    ("18-first-op-first-reversed", cmd(DE, "AI.NOCOMMAND", "AI.TENSORGET a JSON"), UNSUPPORTED),
    ("18-after-header", cmd("AI.DAGEXECUTE ROUTING t TIMEOUT soon", "AI.NOCOMMAND"),
     TIMEOUT_INVALID),
    ("19-input-never-set", cmd(DE, X, ME), INPUT_NOT_FOUND),
    ("19-keyspace-tensor-not-loaded", cmd(DE, "AI.TENSORGET t"), INPUT_NOT_FOUND),
    ("19-produced-later", cmd(DE, "AI.TENSORGET a", TS), INPUT_NOT_FOUND),
    ("19-after-op-parsing", cmd(DE, "AI.TENSORGET nothing", "AI.NOCOMMAND"), UNSUPPORTED),
    ("20-persist-not-produced", cmd("AI.DAGEXECUTE PERSIST 1 b", TS), PERSIST_NOT_FOUND),
    ("20-after-inputs", cmd("AI.DAGEXECUTE PERSIST 1 b", "AI.TENSORGET nothing"),
     INPUT_NOT_FOUND),
    ("order-load-key-before-routing-value", cmd("AI.DAGEXECUTE TIMEOUT 9 LOAD 1 nokey ROUTING"),
     TENSOR_EMPTY),
    ("order-timeout-before-load", cmd("AI.DAGEXECUTE TIMEOUT soon LOAD 1 nokey", TS),
     TIMEOUT_INVALID),
    ("order-load-before-timeout", cmd("AI.DAGEXECUTE LOAD 1 nokey TIMEOUT soon", TS),
     TENSOR_EMPTY),
    ("order-persist-before-load", cmd("AI.DAGEXECUTE PERSIST 2 a a LOAD 1 nokey", TS),
     PERSIST_UNIQUE),
    ("order-header-before-keyword-check", cmd("AI.DAGEXECUTE TIMEOUT soon", TS), TIMEOUT_INVALID),
]


@pytest.fixture
def objects(r, blobs):
    """m (the ONNX MLP: x [N,4], z [N,3] -> y, h), script s, tensor t, string str."""
    assert store(r, "m", "ONNX", blobs("onnx_mlp")) == b"OK"
    assert r.execute_command("AI.SCRIPTSTORE", "s", "CPU", "ENTRY_POINTS", 2, "pre", "add",
                             "SOURCE", SCRIPT) == b"OK"
    tensorset(r, "t", np.array([[1, 2]], np.float32))
    r.set("str", "a string")


@pytest.mark.parametrize("argv, error", [row[1:] for row in PRE_EXECUTION_ERRORS],
                         ids=[row[0] for row in PRE_EXECUTION_ERRORS])
def test_pre_execution_errors(r, objects, argv, error):
    before = {key: r.dump(key) for key in r.keys()}
    assert error_reply(r, *argv) == error
    assert {key: r.dump(key) for key in r.keys()} == before        # nothing written
    assert info(r, "m")["calls"] == 0 and info(r, "s")["calls"] == 0


@pytest.mark.parametrize("command", ["AI.DAGEXECUTE", "AI.DAGEXECUTE_RO", "AI.DAGRUN",
                                     "AI.DAGRUN_RO"])
def test_refused_in_multi_and_lua(r, objects, command):
    argv = cmd(f"{command} LOAD 1 t", "AI.TENSORGET t VALUES")
    assert_refused_in_transaction(r, argv)


def test_read_only_dags_run_models_and_dagrun_ro_accepts_scriptrun(r, objects, blobs):
    x, z = mlp_inputs(np.random.default_rng(2), 2)
    y, _ = mlp_ref(blobs, x, z)
    reply = dag(r, ("ROUTING", "t"), t_set("x", x), t_set("z", z), m_exec("m", ["x", "z"],
                ["y", "h"]), t_get("y", "VALUES"), command="AI.DAGEXECUTE_RO")
    assert reply[:3] == [b"OK"] * 3
    close(values(reply[3], y.shape), y)
    reply = dag(r, (), t_set("x", x), t_set("z", z), ("AI.MODELRUN", "m", "INPUTS", "x", "z",
                "OUTPUTS", "y", "h"), ("AI.SCRIPTRUN", "s", "add", "INPUTS", "y", "y", "OUTPUTS",
                "w"), t_get("w", "VALUES"), command="AI.DAGRUN_RO")
    assert reply[:4] == [b"OK"] * 4
    close(values(reply[4], y.shape), 2 * y)
    assert not r.exists("y", "w") and info(r, "s")["calls"] == 1


# ================================================================ 3. reply semantics

def test_names_are_rebound_ssa_style(r, objects, blobs):
    """TENSORSETs run at parse time, yet each op sees the version before it."""
    rng = np.random.default_rng(4)
    x1, z = mlp_inputs(rng, 1)
    x2, _ = mlp_inputs(rng, 1)
    reply = dag(r, ("PERSIST", 2, "a", "y"),
                ("AI.TENSORSET", "a", "FLOAT", 1, "VALUES", 1), t_get("a", "VALUES"),
                ("AI.TENSORSET", "a", "FLOAT", 1, "VALUES", 2), t_get("a", "VALUES"),
                t_set("x", x1), t_set("z", z), m_exec("m", ["x", "z"], ["y", "h"]),
                t_get("y", "VALUES"),
                t_set("x", x2), m_exec("m", ["x", "z"], ["y", "h"]), t_get("y", "VALUES"))
    assert reply[:4] == [b"OK", [b"1"], b"OK", [b"2"]]
    first, second = mlp_ref(blobs, x1, z)[0], mlp_ref(blobs, x2, z)[0]
    close(values(reply[7], (1, 3)), first)
    close(values(reply[10], (1, 3)), second)
    assert r.execute_command("AI.TENSORGET", "a", "VALUES") == [b"2"]      # the final versions
    close(tensorget(r, "y"), second)


def test_loaded_name_can_be_shadowed_and_persisted(r, objects):
    reply = dag(r, ("LOAD", 1, "t", "PERSIST", 1, "t"), t_get("t", "VALUES"),
                ("AI.TENSORSET", "t", "INT8", 1, "VALUES", 7), t_get("t", "VALUES"))
    assert reply == [[b"1", b"2"], b"OK", [7]]
    assert r.execute_command("AI.TENSORGET", "t", "META", "VALUES") == \
        [b"dtype", b"INT8", b"shape", [1], b"values", [7]]
    # A LOADed name persisted unchanged: the key keeps a valid tensor, its TTL cleared.
    assert r.expire("t", 1000)
    assert dag(r, ("LOAD", 1, "t", "PERSIST", 1, "t"), t_get("t", "VALUES")) == [[7]]
    assert r.ttl("t") == -1 and r.execute_command("AI.TENSORGET", "t", "VALUES") == [7]
    assert r.delete("t") == 1 and r.ping()


FORMATS = [(), ("META",), ("VALUES",), ("BLOB",), ("META", "BLOB"), ("META", "VALUES"),
           ("BLOB", "META"), ("values",)]


def test_tensorget_formats_match_the_command(r):
    array = np.array([[1, -2], [3, 4]], np.int32)
    tensorset(r, "k", array)
    reply = dag(r, ("ROUTING", "k"), t_set("a", array), *[t_get("a", *fmt) for fmt in FORMATS])
    assert reply[0] == b"OK"
    for fmt, element in zip(FORMATS, reply[1:]):
        assert element == r.execute_command("AI.TENSORGET", "k", *fmt), fmt
    assert reply[1] == reply[5] == [b"dtype", b"INT32", b"shape", [2, 2], b"blob",
                                    array.tobytes()]


def test_ops_and_header_keywords_are_case_insensitive(r, objects):
    reply = r.execute_command("ai.dagexecute", "load", 1, "t", "persist", 1, "b", "|>",
                              "ai.TensorSet", "b", "FLOAT", 1, "VALUES", 3, "|>",
                              "Ai.TensorGet", "t", "values", "|>", "ai.tensorget", "b", "VALUES")
    assert reply == [b"OK", [b"1", b"2"], [b"3"]]
    assert r.execute_command("AI.TENSORGET", "b", "VALUES") == [b"3"]


def test_failing_op_gives_error_element_then_na_and_persists_nothing(r, objects):
    bad_x = np.ones((2, 2), np.float32)             # the model wants [N, 4]
    z = np.ones((2, 3), np.float32)
    tensorset(r, "bad_x", bad_x)
    tensorset(r, "bad_z", z)
    standalone = error_reply(r, *ME.replace("x z", "bad_x bad_z").split())
    reply = dag(r, ("LOAD", 1, "t", "PERSIST", 2, "a", "y"), t_set("a", bad_x), t_set("z", z),
                m_exec("m", ["a", "z"], ["y", "h"]), t_get("y", "VALUES"),
                t_get("t", "VALUES"), t_get("a", "META"))
    assert reply[:2] == [b"OK", b"OK"] and reply[3] == b"NA" and len(reply) == 6
    assert is_error(reply[2], standalone), (reply[2], standalone)
    # A TENSORGET after the failure still returns tensors filled before it.
    assert reply[4] == [b"1", b"2"]
    assert reply[5] == [b"dtype", b"FLOAT", b"shape", [2, 2]]
    assert not r.exists("a", "y")
    stats = info(r, "m")
    assert (stats["calls"], stats["errors"]) == (2, 2)      # standalone + DAG


def test_op_after_a_failure_is_not_executed(r, objects, blobs):
    assert store(r, "m2", "ONNX", blobs("onnx_mlp")) == b"OK"
    x, z = mlp_inputs(np.random.default_rng(6), 3)
    reply = dag(r, ("PERSIST", 1, "y2"), t_set("x", x), t_set("bad", z), t_set("z", z),
                m_exec("m", ["bad", "z"], ["y", "h"]), m_exec("m2", ["x", "z"], ["y2", "h2"]),
                t_get("y2"))
    assert reply[:3] == [b"OK"] * 3 and is_error(reply[3]) and reply[4:] == [b"NA", b"NA"]
    assert not r.exists("y2")
    assert (info(r, "m")["calls"], info(r, "m")["errors"]) == (1, 1)
    assert info(r, "m2")["calls"] == 0


def test_statistics_count_each_executed_op(r, objects, blobs):
    assert store(r, "m2", "ONNX", blobs("onnx_mlp")) == b"OK"
    x, z = mlp_inputs(np.random.default_rng(7), 3)
    y1, _ = mlp_ref(blobs, x, z)
    y2, _ = mlp_ref(blobs, x, y1)
    reply = dag(r, ("ROUTING", "m"), t_set("x", x), t_set("z", z),
                m_exec("m", ["x", "z"], ["y", "h"]), m_exec("m2", ["x", "y"], ["y2", "h2"]),
                m_exec("m", ["x", "y2"], ["y3", "h3"]), t_get("y2", "VALUES"))
    assert reply[:5] == [b"OK"] * 5
    close(values(reply[5], (3, 3)), y2)
    m_stats, m2_stats = info(r, "m"), info(r, "m2")
    assert (m_stats["calls"], m_stats["samples"], m_stats["errors"]) == (2, 6, 0)
    assert (m2_stats["calls"], m2_stats["samples"], m2_stats["errors"]) == (1, 3, 0)
    assert m_stats["duration"] > 0 and m2_stats["duration"] > 0


def test_persist_onto_another_type_appends_wrongtype(r, objects):
    reply = dag(r, ("PERSIST", 3, "k1", "str", "k3"),
                ("AI.TENSORSET", "k1", "FLOAT", 1, "VALUES", 1),
                ("AI.TENSORSET", "str", "FLOAT", 1, "VALUES", 2),
                ("AI.TENSORSET", "k3", "FLOAT", 1, "VALUES", 3))
    assert reply[:3] == [b"OK"] * 3 and len(reply) == 4
    assert is_error(reply[3], WRONGTYPE)
    assert r.execute_command("AI.TENSORGET", "k1", "VALUES") == [b"1"]       # before: written
    assert r.get("str") == b"a string" and not r.exists("k3")                # at and after: not


def test_persist_overwrites_and_clears_the_ttl(r, objects):
    tensorset(r, "k", np.zeros((5,), np.int64))
    assert r.expire("k", 1000)
    reply = dag(r, ("PERSIST", 1, "k"), ("AI.TENSORSET", "k", "FLOAT", 1, 2, "VALUES", 5, 10),
                t_get("k", "VALUES"))
    assert reply == [b"OK", [b"5", b"10"]]
    assert r.ttl("k") == -1
    assert r.execute_command("AI.TENSORGET", "k", "META") == [b"dtype", b"FLOAT", b"shape", [1, 2]]


def test_dag_timeout_behind_a_slow_request(r, shared_server, objects, slow):
    x, z = mlp_inputs(np.random.default_rng(8), 1)
    ops = (t_set("x", x), t_set("z", z), m_exec("m", ["x", "z"], ["y", "h"]), t_get("y", "META"))
    with ThreadPoolExecutor(1) as pool:
        head = pool.submit(slow.run, shared_server.client(), 400)
        wait_blocked(r, 1)
        assert dag(r, ("PERSIST", 1, "y", "TIMEOUT", 1), *ops) == b"TIMEDOUT"
        assert head.result() == b"OK"
    assert not r.exists("y") and info(r, "m")["calls"] == 0
    for timeout in (0, -5):            # accepted, meaning no timeout (a reference limitation)
        with ThreadPoolExecutor(1) as pool:
            head = pool.submit(slow.run, shared_server.client(), 100)
            wait_blocked(r, 1)
            reply = dag(r, ("PERSIST", 1, "y", "TIMEOUT", timeout), *ops)
            assert head.result() == b"OK"
        assert reply == [b"OK", b"OK", b"OK", [b"dtype", b"FLOAT", b"shape", [1, 3]]]
    assert r.exists("y") and info(r, "m")["calls"] == 2


def test_dagrun_runs_modelrun_and_scriptrun(r, objects, blobs):
    x, z = mlp_inputs(np.random.default_rng(10), 2)
    y, h = mlp_ref(blobs, x, z)
    reply = dag(r, (), t_set("x", x), t_set("z", z),
                ("AI.MODELRUN", "m", "INPUTS", "x", "z", "OUTPUTS", "y", "h"),
                ("AI.SCRIPTRUN", "s", "add", "INPUTS", "y", "y", "OUTPUTS", "w"),
                t_get("w", "VALUES"), command="AI.DAGRUN")
    assert reply[:4] == [b"OK"] * 4
    close(values(reply[4], y.shape), 2 * y)
    assert not r.exists("w")
    reply = dag(r, ("PERSIST", 2, "w", "h"), t_set("x", x), t_set("z", z),
                ("AI.MODELRUN", "m", "INPUTS", "x", "z", "OUTPUTS", "y", "h"),
                ("AI.SCRIPTRUN", "s", "add", "INPUTS", "y", "y", "OUTPUTS", "w"),
                command="AI.DAGRUN")
    assert reply == [b"OK"] * 4
    close(tensorget(r, "w"), 2 * y)
    close(tensorget(r, "h"), h)


def test_onnx_non_tensor_output_fails_the_op(r, shared_server, blobs):
    """The reference crashed filling the slot; the op must fail instead."""
    assert store(r, "seq", "ONNX", blobs("onnx_with_sequence")) == b"OK"
    x = np.ones((2, 3), np.float32)
    reply = dag(r, ("PERSIST", 1, "y"), t_set("x", x), m_exec("seq", ["x"], ["y", "s"]),
                t_get("y", "META"), t_get("s", "META"))
    assert reply[0] == b"OK" and is_error(reply[1]) and reply[3] == b"NA", reply
    assert not r.exists("y", "s")
    assert_alive(shared_server)


def test_read_only_dags_are_not_refused_under_maxmemory(r, objects):
    argv = cmd("AI.DAGEXECUTE_RO LOAD 1 t", "AI.TENSORGET t VALUES")
    r.config_set("maxmemory", 1)
    try:
        assert r.execute_command(*argv) == [[b"1", b"2"]]
        assert r.execute_command("AI.DAGRUN_RO", *argv[1:]) == [[b"1", b"2"]]
        with pytest.raises(ResponseError, match="^command not allowed when used memory"):
            r.execute_command("AI.DAGEXECUTE", *argv[1:])
    finally:
        r.config_set("maxmemory", 0)


def test_replica_runs_read_only_dags_and_gets_persisted_tensors(server_factory, blobs, fraud):
    primary = server_factory(name="primary", config=["--appendonly", "yes",
                                                     "--repl-diskless-sync-delay", "0"])
    client = primary.client()
    fraud.setup(client, 1)
    ref = Fraud.reference_data(np.random.default_rng(3))
    tensorset(client, "ref{1}", ref)
    replica = server_factory(name="replica", config=["--replicaof", "127.0.0.1", primary.port])
    replica_client = replica.client()
    wait_info(replica_client, "replication", master_link_status="up")
    tx = Fraud.transaction(np.random.default_rng(4))
    expected = fraud.score(tx, ref)
    reply = Fraud.dag(client, 1, tx, "ref{1}", "score{1}")
    close(values(reply[3], (1, 1)), expected)
    assert client.wait(1, 10000) == 1
    close(tensorget(replica_client, "score{1}"), expected)
    # The replica runs read-only DAGs (model ops included) and refuses the others.
    reply = dag(replica_client, ("LOAD", 1, "score{1}"),
                ("AI.TENSORSET", "f", "FLOAT", 1, 2 * F, "VALUES", *range(2 * F)),
                m_exec("model{1}", ["f"], ["s"]), t_get("s", "VALUES"), t_get("score{1}", "VALUES"),
                command="AI.DAGEXECUTE_RO")
    feat = np.arange(2 * F, dtype=np.float32).reshape(1, -1)
    close(values(reply[2], (1, 1)), fraud.session.run(None, {"feat": feat})[0])
    close(values(reply[3], (1, 1)), expected)
    assert dag(replica_client, ("LOAD", 1, "ref{1}"), t_get("ref{1}", "META"),
               command="AI.DAGRUN_RO") == [[b"dtype", b"FLOAT", b"shape", [2, F]]]
    with pytest.raises(ResponseError, match="^You can't write against a read only replica"):
        Fraud.dag(replica_client, 1, tx, "ref{1}", "other{1}")
    # Propagated as AI.TENSORSET ... BLOB, so the AOF brings it back.
    aof = b"".join(p.read_bytes() for p in (primary.dir / "appendonlydir").glob("*.incr.aof"))
    assert b"AI.DAGEXECUTE" not in aof and b"AI.TENSORSET" in aof
    primary.restart()
    close(tensorget(primary.client(), "score{1}"), expected)


def test_command_getkeys_reports_header_keys_and_model_script_keys(r, objects):
    argv = cmd("AI.DAGEXECUTE LOAD 2 ref{1} t{1} PERSIST 1 score{1} ROUTING {1} TIMEOUT 50",
               "AI.TENSORSET tx FLOAT 1 2 VALUES 1 2",
               "AI.SCRIPTEXECUTE pre{1} pre KEYS 1 k{1} INPUTS 2 tx ref{1} OUTPUTS 1 feat",
               "AI.MODELEXECUTE model{1} INPUTS 1 feat OUTPUTS 1 score{1}",
               "AI.TENSORGET score{1} VALUES")
    assert r.command_getkeys(*argv) == ["ref{1}", "t{1}", "score{1}", "{1}", "pre{1}",
                                        "model{1}"]
    assert keys_and_flags(r, *argv) == [("ref{1}", READ), ("t{1}", READ), ("score{1}", WRITE),
                                        ("{1}", ROUTE), ("pre{1}", READ), ("model{1}", READ)]
    assert r.command_getkeys(*cmd("AI.DAGEXECUTE_RO ROUTING {2}", "AI.TENSORGET a")) == ["{2}"]


@pytest.mark.parametrize("count", [2**31, 2**32 + 1, 2**63 - 1])
def test_command_getkeys_takes_a_count_past_the_end_as_the_rest(r, count):
    """The fuzzer's find: 2**31 wrapped to a negative index and crashed the server."""
    argv = ["AI.DAGEXECUTE_RO", "LOAD", count, "x", "ROUTING", "k", "|>", "AI.TENSORGET", "x"]
    assert r.command_getkeys(*argv) == argv[3:]


# ================================================================ 4. two devices

@pytest.fixture
def two_devices(r, blobs, slow):
    """slow (CPU) and slow1 (CPU:1), m (CPU) and m1 (CPU:1), both warmed up."""
    assert store(r, "slow1", "TORCH", blobs("torch_slow"), device="CPU:1") == b"OK"
    tensorset(r, "warm_n", np.array(50, np.int64))
    for _ in range(3):          # TorchScript optimises a module in its first runs
        assert modelexecute(r, "slow1", ["slow_x", "warm_n"], ["slow_y"]) == b"OK"
    assert store(r, "m", "ONNX", blobs("onnx_mlp")) == b"OK"
    assert store(r, "m1", "ONNX", blobs("onnx_mlp"), device="CPU:1") == b"OK"
    return slow


def test_parts_on_two_devices_run_concurrently(r, blobs, two_devices):
    x = np.ones((1, 64), np.float32)
    n = slow_steps(two_devices, 300)
    for attempt in range(3):        # 2 shared cores: another process may take one
        for key in ("slow", "slow1"):
            assert r.execute_command("AI.INFO", key, "RESETSTAT") == b"OK"
        started = time.monotonic()
        reply = dag(r, ("ROUTING", "x"), t_set("x", x), t_set("n", n),
                    m_exec("slow", ["x", "n"], ["a"]), m_exec("slow1", ["x", "n"], ["b"]),
                    t_get("a", "BLOB"), t_get("b", "BLOB"))
        wall = time.monotonic() - started
        busy = (info(r, "slow")["duration"] + info(r, "slow1")["duration"]) / 1e6
        assert reply[:4] == [b"OK"] * 4 and reply[4] == reply[5]
        if wall < 0.8 * busy:
            break
    assert wall < 0.8 * busy, (wall, busy)
    close(np.frombuffer(reply[4], np.float32).reshape(1, 64),
          models.torch_run(blobs("torch_slow"), x, n)[0])


def test_cross_device_dependencies(r, shared_server, blobs, two_devices):
    """CPU -> CPU:1 -> CPU -> CPU:1: each part waits for the other's outputs."""
    clients, rounds = 8, 5

    def one_client(c):
        client = shared_server.client()
        rng = np.random.default_rng(200 + c)
        results = []
        for i in range(rounds):
            x, z = mlp_inputs(rng, 1 + (c + i) % 3)
            ops = [t_set("x", x), t_set("z", z), m_exec("m", ["x", "z"], ["y1", "h"]),
                   m_exec("m1", ["x", "y1"], ["y2", "h"]), m_exec("m", ["x", "y2"], ["y3", "h"]),
                   m_exec("m1", ["x", "y3"], ["y4", "h"]), t_get("y4", "VALUES")]
            if i == 0:              # keep CPU:1 busy so that the CPU part gets ahead
                ops[2:2] = [t_set("sx", np.ones((1, 64), np.float32)),
                            t_set("sn", slow_steps(two_devices, 20)),
                            m_exec("slow1", ["sx", "sn"], ["s"])]
            results.append((x, z, dag(client, ("ROUTING", "m"), *ops)))
        return results

    with ThreadPoolExecutor(clients) as pool:
        results = [item for batch in pool.map(one_client, range(clients)) for item in batch]
    for x, z, reply in results:
        expected = z
        for _ in range(4):
            expected = mlp_ref(blobs, x, expected)[0]
        assert all(e == b"OK" for e in reply[:-1]), reply
        close(values(reply[-1], expected.shape), expected)
    assert info(r, "m")["calls"] == 2 * clients * rounds
    assert info(r, "m1")["calls"] == 2 * clients * rounds


def test_timeout_stops_the_part_waiting_on_another_device(r, shared_server, blobs, two_devices):
    """The CPU:1 part parks waiting for the CPU output; the CPU part times out."""
    x, z = mlp_inputs(np.random.default_rng(15), 2)
    with ThreadPoolExecutor(1) as pool:
        head = pool.submit(two_devices.run, shared_server.client(), 400)
        wait_blocked(r, 1)
        reply = dag(r, ("PERSIST", 1, "y2", "TIMEOUT", 50), t_set("x", x), t_set("z", z),
                    m_exec("m", ["x", "z"], ["y1", "h"]), m_exec("m1", ["x", "y1"], ["y2", "h"]))
        assert head.result() == b"OK"
    assert reply == b"TIMEDOUT"
    assert not r.exists("y2") and info(r, "m")["calls"] == 0 and info(r, "m1")["calls"] == 0


def test_failure_on_one_device_stops_the_other(r, blobs, two_devices):
    x, z = mlp_inputs(np.random.default_rng(16), 2)
    reply = dag(r, ("PERSIST", 1, "y2"), t_set("x", x), t_set("z", z),
                m_exec("m", ["z", "z"], ["y1", "h"]), m_exec("m1", ["x", "y1"], ["y2", "h"]),
                t_get("y2", "META"))
    assert reply[:2] == [b"OK"] * 2 and is_error(reply[2]) and reply[3:] == [b"NA", b"NA"]
    assert not r.exists("y2")
    assert (info(r, "m")["calls"], info(r, "m")["errors"], info(r, "m1")["calls"]) == (1, 1, 0)


def test_mixed_two_device_dags_under_load(r, shared_server, blobs, two_devices):
    """Chains across both devices from 8 clients: successes, failures and short
    timeouts interleaved; every reply has the right shape and values."""
    clients, rounds = 8, 25

    def one_client(c):
        client = shared_server.client()
        rng = np.random.default_rng(300 + c)
        results, out = [], f"y3:{c}"
        for i in range(rounds):
            kind = (c + i) % 3         # 0: success, 1: the third op fails, 2: TIMEOUT 1
            x, z = mlp_inputs(rng, 1 + i % 4)
            first = "m" if c % 2 else "m1"
            other = "m1" if c % 2 else "m"
            ops = [t_set("x", x), t_set("z", z), t_set("bad", z),
                   m_exec(first, ["x", "z"], ["y1", "h"]),
                   m_exec(other, ["bad" if kind == 1 else "x", "y1"], ["y2", "h"]),
                   m_exec(first, ["x", "y2"], [out, "h"]), t_get(out, "VALUES")]
            header = ("PERSIST", 1, out) + (("TIMEOUT", 1) if kind == 2 else ())
            results.append((kind, x, z, dag(client, header, *ops), client.exists(out)))
            client.delete(out)
        return results

    with ThreadPoolExecutor(clients) as pool:
        results = [item for batch in pool.map(one_client, range(clients)) for item in batch]
    for kind, x, z, reply, persisted in results:
        expected = z
        for _ in range(3):
            expected = mlp_ref(blobs, x, expected)[0]
        if kind == 2 and reply == b"TIMEDOUT":
            assert not persisted
            continue
        if kind == 1:
            assert reply[:4] == [b"OK"] * 4 and is_error(reply[4]), reply
            assert reply[5:] == [b"NA", b"NA"] and not persisted
            continue
        assert reply[:6] == [b"OK"] * 6, reply
        close(values(reply[6], expected.shape), expected)
        assert persisted
    assert_alive(shared_server)


# ================================================================ 5. robustness

def test_client_disconnect_while_dag_runs(r, shared_server, fraud, tenant, slow):
    tx = Fraud.transaction(np.random.default_rng(12))
    command = resp("AI.DAGEXECUTE", "LOAD", 1, "ref{0}", "PERSIST", 1, "score{0}", SEP,
                   *t_set_values("tx", tx), SEP,
                   *s_exec("pre{0}", "pre", ["tx", "ref{0}"], ["feat"]), SEP,
                   *m_exec("model{0}", ["feat"], ["score{0}"]))
    with ThreadPoolExecutor(1) as pool:
        head = pool.submit(slow.run, shared_server.client(), 800)
        wait_blocked(r, 1)
        with socket.create_connection(("127.0.0.1", shared_server.port)) as sock:
            sock.sendall(command)
            wait_blocked(r, 2)
        wait_until(lambda: r.info("clients")["blocked_clients"] == 1, "client gone")
        assert not head.done()
        assert head.result() == b"OK"
    # FIFO: once this one is answered, the abandoned DAG has run.
    assert slow.run(r, 1) == b"OK"
    wait_until(lambda: info(r, "model{0}")["calls"] == 1, "DAG ran", 10)
    assert not r.exists("score{0}")
    assert_alive(shared_server)
    reply = Fraud.dag(r, 0, tx, "ref{0}", "score{0}")
    close(values(reply[3], (1, 1)), fraud.score(tx, tenant))


CHANGES = {
    "FLUSHALL": lambda r: r.flushall(),
    "MODELDEL": lambda r: r.execute_command("AI.MODELDEL", "model{0}"),
    "SCRIPTDEL": lambda r: r.execute_command("AI.SCRIPTDEL", "pre{0}"),
    "DEL loaded key": lambda r: r.delete("ref{0}"),
    "overwrite loaded key": lambda r: tensorset(r, "ref{0}", np.ones((2, F), np.float32)),
}


@pytest.mark.parametrize("change", CHANGES)
def test_changes_while_a_dag_waits(r, shared_server, fraud, tenant, slow, change):
    """The DAG runs with the objects it took at parse time."""
    tx = Fraud.transaction(np.random.default_rng(13))
    with ThreadPoolExecutor(2) as pool:
        head = pool.submit(slow.run, shared_server.client(), 300)
        wait_blocked(r, 1)
        request = pool.submit(Fraud.dag, shared_server.client(), 0, tx, "ref{0}", "score{0}")
        wait_blocked(r, 2)
        CHANGES[change](r)
        reply = request.result()
        assert head.result() == b"OK"
    assert reply[:3] == [b"OK"] * 3
    close(values(reply[3], (1, 1)), fraud.score(tx, tenant))
    close(tensorget(r, "score{0}"), fraud.score(tx, tenant))
    assert_alive(shared_server)


def test_many_dags_do_not_leak(server_factory, fraud):
    server = server_factory()
    client = server.client()
    big = np.arange(32 * 1024, dtype=np.float32).reshape(32, 1024)      # 128 KiB
    rng = np.random.default_rng(14)

    def setup():
        fraud.setup(client, 0)
        tensorset(client, "ref{0}", Fraud.reference_data(rng))

    def one(i):
        tx = Fraud.transaction(rng)
        kind = i % 5
        if kind == 0:               # success, persisted
            reply = dag(client, ("LOAD", 1, "ref{0}", "PERSIST", 2, "score{0}", "big"),
                        t_set("big", big), t_set_values("tx", tx),
                        s_exec("pre{0}", "pre", ["tx", "ref{0}"], ["feat"]),
                        m_exec("model{0}", ["feat"], ["score{0}"]), t_get("big", "META"))
            assert reply[:4] == [b"OK"] * 4
        elif kind == 1:             # parse error after a TENSORSET and a LOAD
            assert isinstance(outcome(dag, client, ("LOAD", 1, "ref{0}"), t_set("big", big),
                                      ("AI.NOCOMMAND",)), ResponseError)
        elif kind == 2:             # the model op fails at run time
            reply = dag(client, ("LOAD", 1, "ref{0}", "PERSIST", 1, "out"), t_set("big", big),
                        m_exec("model{0}", ["big"], ["out"]), t_get("big", "META"))
            assert is_error(reply[1]) and not client.exists("out")
        elif kind == 3:             # header error after a LOAD
            assert isinstance(outcome(dag, client, ("LOAD", 1, "ref{0}", "PERSIST", 2, "a", "a"),
                                      t_set("big", big)), ResponseError)
        else:                       # names rebound, a script op
            reply = dag(client, ("LOAD", 1, "ref{0}"), t_set("big", big), t_set("big", big),
                        s_exec("pre{0}", "add", ["big", "big"], ["big"]), t_get("big", "META"))
            assert reply[:3] == [b"OK"] * 3

    setup()
    for i in range(50):             # warm up: arenas, thread pools, sessions
        one(i)
    client.flushall()
    baseline = client.info("memory")["used_memory"]
    setup()
    for i in range(300):
        one(i)
    assert_alive(server)
    client.flushall()

    def used():
        return client.info("memory")["used_memory"] - baseline
    wait_until(lambda: used() < 3 << 20, "memory back near its baseline", 20)
