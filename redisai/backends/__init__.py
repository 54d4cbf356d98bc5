"""Backend registry: one module per framework, imported on first use.

A backend "path" (load-time argument or AI.CONFIG LOADBACKEND) names an extra
import directory: if it is an existing directory it is put first on sys.path
before the framework is imported (to use a framework build outside the
virtualenv). Any other path, such as the reference's `redisai_torch/...so`
library names, is accepted and the framework is imported from the virtualenv.
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
