"""TF backend: frozen GraphDefs run in TensorFlow 2 graph mode."""
from redisai.backends import require

tf = require("tensorflow", "TF")
VERSION = tf.__version__
