"""Backend errors worded as the reference's frameworks worded them
(models-scripts.md), where newer frameworks say it differently or accept more.

Models are built at test time (tests/models.py)."""
import numpy as np
import pytest

import models
from test_tensor import NUMPY_DTYPES, error_reply

def tensorset(r, key, dtype, array):
    blob = array.astype(NUMPY_DTYPES[dtype]).tobytes() if dtype != "STRING" else \
        b"".join(b"%d\0" % v for v in array.reshape(-1))
    assert r.execute_command("AI.TENSORSET", key, dtype, *array.shape, "BLOB", blob) == b"OK"


def modelexecute(r, key, inputs, outputs):
    return r.execute_command("AI.MODELEXECUTE", key, "INPUTS", len(inputs), *inputs,
                             "OUTPUTS", len(outputs), *outputs)


# ---------------------------------------------------------------- ONNX

@pytest.fixture
def onnx_mlp(r):
    """x [N,4], z [N,3] -> y [N,3], h [N,8] (float)."""
    assert r.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", models.onnx_mlp()) \
        == b"OK"
    tensorset(r, "z", "FLOAT", np.zeros((2, 3)))
    return r


def test_onnx_wrong_dimension_uses_the_reference_wording(onnx_mlp):
    tensorset(onnx_mlp, "x", "FLOAT", np.zeros((2, 3)))
    assert error_reply(onnx_mlp, "AI.MODELEXECUTE", "m", "INPUTS", 2, "x", "z",
                       "OUTPUTS", 2, "y", "h") == (
        "Got invalid dimensions for input: x for the following indices  index: 1 Got: 3 "
        "Expected: 4  Please fix either the inputs or the model.")
    assert not onnx_mlp.exists("y")


def test_onnx_wrong_rank_uses_the_reference_wording(onnx_mlp):
    tensorset(onnx_mlp, "x", "FLOAT", np.zeros((2, 4, 1)))
    assert error_reply(onnx_mlp, "AI.MODELEXECUTE", "m", "INPUTS", 2, "x", "z",
                       "OUTPUTS", 2, "y", "h") == (
        "Invalid rank for input: x Got: 3 Expected: 2 Please fix either the inputs or the model.")


def test_onnx_right_shapes_still_run(onnx_mlp):
    tensorset(onnx_mlp, "x", "FLOAT", np.zeros((2, 4)))
    assert modelexecute(onnx_mlp, "m", ["x", "z"], ["y", "h"]) == b"OK"
