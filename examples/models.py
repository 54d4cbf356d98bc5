"""Models the examples make at run time (nothing is downloaded). Run as a
script, it writes the quick start's model to the file named."""
import io
import sys
import warnings

import numpy as np
from onnx import TensorProto, helper, numpy_helper


def linear_onnx():
    """The quick start's model, made with onnx.helper: y = x @ [[1, 2], [3, 4]]
    for x of shape [N, 2] (float)."""
    w = numpy_helper.from_array(np.array([[1, 2], [3, 4]], dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8            # old enough for any recent ONNX Runtime
    return model.SerializeToString()


def torch_onnx(net, example):
    """The torch module `net` as ONNX, traced on the tensor `example`, with a
    dynamic first dimension."""
    import torch
    blob = io.BytesIO()
    with warnings.catch_warnings():    # the legacy exporter: the new one needs onnxscript
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(net, (example,), blob, dynamo=False, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})
    return blob.getvalue()


if __name__ == "__main__":
    with open(sys.argv[1], "wb") as f:
        f.write(linear_onnx())
