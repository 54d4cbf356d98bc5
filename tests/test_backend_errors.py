"""Backend errors worded as the reference's frameworks worded them
(models-scripts.md), where newer frameworks say it differently or accept more.

Models are built at test time (tests/models.py)."""
import numpy as np
import pytest

import models
from test_tensor import NUMPY_DTYPES, error_reply

TF_IO = ("INPUTS", 2, "a", "b", "OUTPUTS", 1, "mul")
# The reference's TensorFlow C API names (DataTypeString).
TF_NAMES = {"FLOAT": "float", "DOUBLE": "double", "INT8": "int8", "INT16": "int16",
            "INT32": "int32", "INT64": "int64", "UINT8": "uint8", "UINT16": "uint16",
            "BOOL": "bool", "STRING": "string"}


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


# ---------------------------------------------------------------- TF

@pytest.fixture(scope="module")
def tf_mul():
    """Placeholders a, b (float) -> mul = a * b."""
    return models.tf_mul()


@pytest.mark.parametrize("dtype", [t for t in TF_NAMES if t != "FLOAT"])
def test_tf_input_of_another_dtype_is_refused_not_cast(r, tf_mul, dtype):
    assert r.execute_command("AI.MODELSTORE", "m", "TF", "CPU", *TF_IO, "BLOB", tf_mul) == b"OK"
    tensorset(r, "a", "FLOAT", np.ones((2, 2)))
    tensorset(r, "b", dtype, np.ones((2, 2)))
    assert error_reply(r, "AI.MODELEXECUTE", "m", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "c") == \
        f"Expects arg[1] to be float but {TF_NAMES[dtype]} is provided"
    assert not r.exists("c")
    # The first mismatching input is named.
    assert error_reply(r, "AI.MODELEXECUTE", "m", "INPUTS", 2, "b", "b", "OUTPUTS", 1, "c") == \
        f"Expects arg[0] to be float but {TF_NAMES[dtype]} is provided"


def test_tf_inputs_of_the_graphs_dtype_run(r, tf_mul):
    assert r.execute_command("AI.MODELSTORE", "m", "TF", "CPU", *TF_IO, "BLOB", tf_mul) == b"OK"
    tensorset(r, "a", "FLOAT", np.full((2, 2), 3))
    tensorset(r, "b", "FLOAT", np.full((2, 2), 2))
    assert modelexecute(r, "m", ["a", "b"], ["c"]) == b"OK"
    assert r.execute_command("AI.TENSORGET", "c", "VALUES") == [b"6"] * 4
