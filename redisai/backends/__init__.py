"""Backend registry: one module per framework, imported on first use.

A backend "path" (load-time argument or AI.CONFIG LOADBACKEND) names an extra
import directory: if it is an existing directory it is put first on sys.path
before the framework is imported (to use a framework build outside the
virtualenv). Any other path, such as the reference's `redisai_torch/...so`
library names, is accepted and the framework is imported from the virtualenv.

TorchScript scripts (AI.SCRIPTSTORE...) are `script.Script`, on top of the TORCH backend.
"""
import importlib
import os
import sys

MODULES = {"TF": "tf", "TFLITE": "tflite", "TORCH": "torch", "ONNX": "onnx"}


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
    """Import backend `name`; return its framework version."""
    if path and os.path.isdir(path) and path not in sys.path:
        sys.path.insert(0, path)
    return importlib.import_module(f"{__name__}.{MODULES[name]}").VERSION


class BackendError(Exception):
    """An error whose text is the reply (exact glue messages of the spec)."""


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
