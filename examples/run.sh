#!/usr/bin/env bash
# `make examples`: runs every example against a redis-server with the module,
# started on a free port in a temporary directory; fails if any example fails.
# Usage: examples/run.sh <path to redisai.so> <python>
set -euo pipefail
module=$1 python=$2
cd "$(dirname "$0")"

# the README's Quick start may show only lines that stand in an example
awk '/^## /{q = ($0 == "## Quick start")} q && /^```/{f = !f; next} q && f' ../README.md |
    sed 's/ \{2,\}# .*//' | while IFS= read -r line; do
        [ -z "$line" ] || grep -qF -- "$line" ./*.sh ./*.py ||
            { echo "README Quick start: not in examples/: $line"; exit 1; }
    done

dir=$(mktemp -d)
port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save '' \
    --loadmodule "$module" --logfile "$dir/redis.log" --daemonize yes --pidfile "$dir/redis.pid"
trap 'redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
for _ in {1..100}; do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p "$port" ping >/dev/null || { cat "$dir/redis.log"; exit 1; }
export PORT=$port PYTHON=$python
# redisai-py 1.3.0 imports pkg_resources, which warns that it is deprecated
export PYTHONWARNINGS="ignore:pkg_resources is deprecated"
for example in quickstart.sh quickstart.py fraud_detection.py image_classifier.py; do
    echo "== $example"
    case $example in
        *.sh) bash "$example" ;;
        *.py) "$python" "$example" ;;
    esac
done
