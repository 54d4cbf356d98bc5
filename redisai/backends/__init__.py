"""Backend registry: one module per framework, imported on first use.

A backend "path" (load-time argument or AI.CONFIG LOADBACKEND, already
resolved against BACKENDSPATH) is one of:
- the reference's library for that backend (`.../redisai_torch/redisai_torch.so`;
  the file need not exist): the framework is imported from the virtualenv;
- a directory holding the framework's package (`<dir>/torch/__init__.py`): it is
  put first on sys.path, to use a framework build outside the virtualenv.
Anything else is refused before any import, so the backend stays unloaded.

TorchScript scripts (AI.SCRIPTSTORE...) are `script.Script`, on top of the TORCH backend.
"""
import importlib
import os
import sys

MODULES = {"TF": "tf", "TFLITE": "tflite", "TORCH": "torch", "ONNX": "onnx"}
# The reference's library of each backend (spec/config.md), and the package
# whose presence makes a directory a valid backend path.
LIBRARIES = {"TF": "redisai_tensorflow", "TFLITE": "redisai_tflite", "TORCH": "redisai_torch",
             "ONNX": "redisai_onnxruntime"}
PACKAGES = {"TF": "tensorflow", "TFLITE": "ai_edge_litert", "TORCH": "torch",
            "ONNX": "onnxruntime"}


class BackendError(Exception):
    """An error whose text is the reply (exact glue messages of the spec)."""


class BackendUnavailable(ImportError):
    """The framework a backend needs cannot be imported."""


def require(package: str, backend: str):
    """Import a framework package, naming it (and its version) on failure."""
    try:
        return importlib.import_module(package)
    except Exception as exc:
        found = _installed_version(package)
        raise BackendUnavailable(
            f"the {backend} backend needs the Python package '{package}' "
            f"({'found version ' + found if found else 'not installed'}): {exc}") from exc


def _installed_version(package: str):
    from importlib import metadata
    for dist in (package, package.replace("_", "-"), f"{package}-cpu", f"{package}-gpu"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def load(name: str, path: str) -> str:
    """Import backend `name` from `path` (see above); return its framework version."""
    path = os.path.normpath(path)
    library = LIBRARIES[name]
    head, file = os.path.split(path)
    if file != library + ".so" or os.path.basename(head) != library:
        if not os.path.isfile(os.path.join(path, PACKAGES[name], "__init__.py")):
            raise BackendError(f"{path} is neither {library}/{library}.so nor a directory "
                               f"holding the '{PACKAGES[name]}' package")
        if path not in sys.path:
            sys.path.insert(0, path)
    return importlib.import_module(f"{__name__}.{MODULES[name]}").VERSION


def gpu_index(device: str):
    """None for a CPU device string, else the GPU ordinal (`GPU` is 0)."""
    device = device.upper()
    if device.startswith("CPU"):
        return None
    return int(device[4:] or 0) if device.startswith("GPU:") else 0


def string_blob(array):
    """The NUL-terminated blob of a STRING output (numpy array of bytes/str)."""
    return b"".join((e.encode() if isinstance(e, str) else bytes(e)) + b"\0"
                    for e in array.reshape(-1).tolist())


class Settings:
    """Load-time configuration a session is created with."""

    def __init__(self, intra_op: int, inter_op: int, execution_timeout_ms: int):
        # 0 (unset): one thread per call; requests run in parallel on the
        # THREADS_PER_QUEUE workers instead. Frameworks' own pools spin
        # between calls and oversubscribe a small box.
        self.intra_op = intra_op or 1
        self.inter_op = inter_op
        self.execution_timeout_ms = execution_timeout_ms


def create(name: str, blob: bytes, device: str, inputs, outputs, settings: Settings):
    """A backend session for a model blob (the backend is already imported)."""
    module = importlib.import_module(f"{__name__}.{MODULES[name]}")
    return module.Session(blob, device, inputs, outputs, settings)
