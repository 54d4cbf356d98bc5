"""ONNX backend: ONNX Runtime (onnxruntime, or onnxruntime-gpu in the GPU build)."""
import os
import re
import threading
import time

import numpy as np

from redisai.backends import BackendError, gpu_index, require

# Its telemetry would write a device id and an event store under $HOME and a
# file in /tmp, from inside the server; it is read at import.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
ort = require("onnxruntime", "ONNX")
onnx = require("onnx", "ONNX")
VERSION = ort.__version__

# ORT's Python exceptions prefix the C API's message with its status code.
_STATUS_PREFIX = re.compile(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ")


def _message(exc):
    """ORT's text as the reference's C API gave it. Newer ORT says
    "inputs/outputs" in its dimension and rank errors; the reference's ORT
    (and the spec) say "Please fix either the inputs or the model."."""
    return _STATUS_PREFIX.sub("", str(exc)).replace(
        "Please fix either the inputs/outputs or the model.",
        "Please fix either the inputs or the model.")


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


def text(element):
    try:
        return element.decode("utf-8")
    except UnicodeDecodeError:
        raise BackendError("ERR ONNX STRING elements must be valid UTF-8") from None


class Session:
    """One InferenceSession; ORT sessions are safe to run from many threads."""

    def __init__(self, blob, device, inputs, outputs, settings):
        gpu = gpu_index(device)
        providers = ["CPUExecutionProvider"]
        if gpu is not None:
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise BackendError("ERR GPU requested but ONNX couldn't find CUDA")
            providers = [("CUDAExecutionProvider", {"device_id": gpu})]
        _refuse_external_data(blob)
        options = ort.SessionOptions()
        options.intra_op_num_threads = settings.intra_op
        options.inter_op_num_threads = settings.inter_op
        # Idle intra-op threads must not spin: the worker threads own the CPUs.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # No per-session arena: it keeps each model's peak for good.
        options.enable_cpu_mem_arena = False
        try:
            self.session = ort.InferenceSession(bytes(blob), options, providers=providers)
        except Exception as exc:
            raise BackendError(_message(exc)) from None
        # ORT's wrapper keeps the model bytes for re-creating the session on
        # another provider after a failure: a second copy of the weights per
        # model, beside the blob the module keeps. No fallback, no copy.
        self.session.disable_fallback()
        self.session._model_bytes = None
        # InferenceSession.run() validates the feed in Python on every call
        # (a few us, as much as the rest of our glue); the feed is built from
        # the session's own input names, so the C++ run is called directly.
        self.run_feed = getattr(self.session, "_sess", self.session).run
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.timeout_s = settings.execution_timeout_ms / 1000

    def run(self, arrays):
        feed = dict(zip(self.inputs, arrays))
        for name, array in feed.items():
            if array.dtype.hasobject:   # STRING: ORT's Python API takes text only
                feed[name] = np.array([text(e) for e in array.reshape(-1)],
                                      dtype=object).reshape(array.shape)
        call = watchdog.start(self.timeout_s)
        try:
            results = self.run_feed(self.outputs, feed, call.options)
        except Exception as exc:
            raise BackendError(_message(exc)) from None
        finally:
            watchdog.stop(call)
        # Sequences and maps (e.g. ZipMap) are not tensors: those outputs are skipped.
        return [r if isinstance(r, np.ndarray) else None for r in results]


class Call:
    """A worker thread's ONNX calls: one RunOptions, reused, and the deadline
    of the running call (None between calls)."""
    __slots__ = ("options", "deadline", "terminated")

    def __init__(self):
        self.options = ort.RunOptions()
        self.deadline = None
        self.terminated = False


class Watchdog:
    """MODEL_EXECUTION_TIMEOUT: a thread that sets the terminate flag of ONNX
    runs that outlive the limit (ORT then fails them with "Exiting due to
    terminate flag being set to true."). This is on every call's path:
    starting a call is one store, and only its end takes the lock, after
    which the watchdog can no longer terminate it."""

    PERIOD_S = 0.05

    def __init__(self):
        self.lock = threading.Lock()
        self.calls = []                 # one Call per worker thread
        self.local = threading.local()
        self.thread = None

    def start(self, timeout_s):
        call = getattr(self.local, "call", None)
        if call is None:
            call = self.local.call = Call()
            with self.lock:
                self.calls.append(call)
                if self.thread is None:
                    self.thread = threading.Thread(target=self.loop, daemon=True,
                                                   name="ai-onnx-watchdog")
                    self.thread.start()
        call.deadline = time.monotonic() + timeout_s
        return call

    def stop(self, call):
        with self.lock:
            call.deadline = None
            if call.terminated:
                call.options.terminate = call.terminated = False

    def loop(self):
        while True:
            time.sleep(self.PERIOD_S)
            now = time.monotonic()
            with self.lock:
                for call in self.calls:
                    if call.deadline is not None and now > call.deadline:
                        call.options.terminate = call.terminated = True


watchdog = Watchdog()
