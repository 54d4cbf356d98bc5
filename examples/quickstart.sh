#!/usr/bin/env bash
# Quick start from redis-cli: set a tensor, store an ONNX model, run it, read the result; then all in one DAG.
set -euo pipefail
cd "$(dirname "$0")"
PORT=${PORT:-6379} PYTHON=${PYTHON:-../.venv/bin/python}
trap 'rm -f linear.onnx' EXIT
set -x

$PYTHON models.py linear.onnx
redis-cli -p $PORT AI.TENSORSET x FLOAT 1 2 VALUES 1 1
redis-cli -p $PORT -x AI.MODELSTORE linear ONNX CPU BLOB < linear.onnx
redis-cli -p $PORT AI.MODELEXECUTE linear INPUTS 1 x OUTPUTS 1 y
redis-cli -p $PORT AI.TENSORGET y VALUES
redis-cli -p $PORT AI.DAGEXECUTE PERSIST 1 y2 '|>' AI.TENSORSET x2 FLOAT 1 2 VALUES 2 3 '|>' AI.MODELEXECUTE linear INPUTS 1 x2 OUTPUTS 1 y2 '|>' AI.TENSORGET y2 VALUES

set +x
# fail on a wrong result: redis-cli exits 0 even on an error reply
[ "$(redis-cli -p $PORT AI.TENSORGET y VALUES)" = $'4\n6' ]
[ "$(redis-cli -p $PORT AI.TENSORGET y2 VALUES)" = $'11\n16' ]
