"""ONNX backend: ONNX Runtime (onnxruntime, or onnxruntime-gpu in the GPU build)."""
import re
import threading

import numpy as np

from redisai.backends import BackendError, gpu_index, require

ort = require("onnxruntime", "ONNX")
onnx = require("onnx", "ONNX")
VERSION = ort.__version__

# ORT's Python exceptions prefix the C API's message with its status code.
_STATUS_PREFIX = re.compile(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ")


def _refuse_external_data(blob):
    """A model must be self-contained: external initializers would make the
    server read files named by the client."""
    try:
        model = onnx.load_model_from_string(bytes(blob))
    except Exception:
        return          # not parseable here: let ONNX Runtime report it
    for tensor in onnx.external_data_helper._get_all_tensors(model):
        if onnx.external_data_helper.uses_external_data(tensor):
            raise BackendError("Initializer tensors with external data is not allowed.")


class Session:
    """One InferenceSession; ORT sessions are safe to run from many threads."""

    def __init__(self, blob, device, inputs, outputs, intra_op, inter_op):
        gpu = gpu_index(device)
        providers = ["CPUExecutionProvider"]
        if gpu is not None:
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise BackendError("ERR GPU requested but ONNX couldn't find CUDA")
            providers = [("CUDAExecutionProvider", {"device_id": gpu})]
        _refuse_external_data(blob)
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op
        options.inter_op_num_threads = inter_op
        try:
            self.session = ort.InferenceSession(bytes(blob), options, providers=providers)
        except Exception as exc:
            raise BackendError(_STATUS_PREFIX.sub("", str(exc))) from None
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.outputs = [o.name for o in self.session.get_outputs()]
        self._running = {}              # thread id -> (RunOptions, start time)
        self._lock = threading.Lock()

    def run(self, arrays, deadline_check=None):
        feed = {}
        for name, array in zip(self.inputs, arrays):
            if array.dtype == object:   # STRING: ORT wants text, not bytes
                array = np.array([e.decode("utf-8", "surrogateescape") for e in array.reshape(-1)],
                                 dtype=object).reshape(array.shape)
            feed[name] = array
        options = ort.RunOptions()
        key = threading.get_ident()
        with self._lock:
            self._running[key] = options
        try:
            results = self.session.run(None, feed, options)
        except Exception as exc:
            raise BackendError(_STATUS_PREFIX.sub("", str(exc))) from None
        finally:
            with self._lock:
                del self._running[key]
        # Sequences and maps (e.g. ZipMap) are not tensors: those outputs are skipped.
        return [r if isinstance(r, np.ndarray) else None for r in results]

    def terminate(self):
        """MODEL_EXECUTION_TIMEOUT: stop every run in progress."""
        with self._lock:
            for options in self._running.values():
                options.terminate = True
