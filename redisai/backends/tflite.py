"""TFLITE backend: .tflite flatbuffers through LiteRT (ai-edge-litert)."""
import threading

from redisai.backends import BackendError, require

litert = require("ai_edge_litert", "TFLITE")
interpreter = require("ai_edge_litert.interpreter", "TFLITE")
VERSION = litert.__version__


class Session:
    """One interpreter. Interpreters are not thread safe: runs are serialised
    per model. This CPU build runs GPU-device models on the CPU."""

    def __init__(self, blob, device, inputs, outputs, settings):
        try:
            self.interpreter = interpreter.Interpreter(model_content=bytes(blob),
                                                       num_threads=settings.intra_op)
        except Exception:
            raise BackendError("Failed to load model from buffer") from None
        try:
            self.interpreter.allocate_tensors()
        except Exception:
            raise BackendError("Failed to allocate tensors") from None
        self.inputs = [d["name"] for d in self.interpreter.get_input_details()]
        self.outputs = [d["name"] for d in self.interpreter.get_output_details()]
        self.lock = threading.Lock()

    def run(self, arrays):
        with self.lock:
            return self._run(arrays)

    def _run(self, arrays):
        it = self.interpreter
        details = it.get_input_details()
        if len(details) != len(arrays):
            raise BackendError("Inconsistent number of inputs")
        resized = False
        for detail, array in zip(details, arrays):
            if array.dtype != detail["dtype"]:
                raise BackendError(
                    "Input tensor type doesn't match the type expected by the model definition")
            if tuple(detail["shape"]) != array.shape:
                try:
                    it.resize_tensor_input(detail["index"], array.shape)
                except Exception:
                    raise BackendError("Failed to resize input tensors") from None
                resized = True
        if resized:
            try:
                it.allocate_tensors()
            except Exception:
                raise BackendError("Failed to allocate tensors") from None
        for detail, array in zip(details, arrays):
            it.set_tensor(detail["index"], array)
        try:
            it.invoke()
        except Exception:
            raise BackendError("Failed to invoke TfLite") from None
        return [it.get_tensor(d["index"]).copy() for d in it.get_output_details()]
