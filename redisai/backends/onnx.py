"""ONNX backend: ONNX Runtime (onnxruntime, or onnxruntime-gpu in the GPU build)."""
from redisai.backends import require

ort = require("onnxruntime", "ONNX")
VERSION = ort.__version__
