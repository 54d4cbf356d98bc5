"""Model statistics against the spec: AI.INFO of a model and AI._MODELSCAN
(commands.md: replies and errors; models-scripts.md: what is counted)."""
import numpy as np
import pytest

import models
from models import (CASES, NO_RUN_INFO, info, mlp_inputs, modelexecute, pairs, store, tensorset,
                    zero_stats)
from test_tensor import ARITY, error_reply

pytestmark = models.IGNORE_TORCH_JIT_DEPRECATION


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
