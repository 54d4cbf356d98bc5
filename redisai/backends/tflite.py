"""TFLITE backend: .tflite flatbuffers through LiteRT (ai-edge-litert)."""
from redisai.backends import require

litert = require("ai_edge_litert", "TFLITE")
interpreter = require("ai_edge_litert.interpreter", "TFLITE")
VERSION = litert.__version__
