"""TORCH backend: TorchScript archives through PyTorch."""
from redisai.backends import require

torch = require("torch", "TORCH")
VERSION = torch.__version__
