#!/usr/bin/env bash
# Builds examples/py-counter into target/py-counter/py_counter.wasm with componentize-py.
# Run from anywhere; works offline once componentize-py is installed in target/pyenv:
#   python3 -m venv target/pyenv && target/pyenv/bin/pip install componentize-py==0.25.1
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
cpy="${COMPONENTIZE_PY:-target/pyenv/bin/componentize-py}"
if [ ! -x "$cpy" ]; then
    echo "componentize-py not found at $cpy; install it with:" >&2
    echo "  python3 -m venv target/pyenv && target/pyenv/bin/pip install componentize-py==0.25.1" >&2
    exit 1
fi
export PYTHONDONTWRITEBYTECODE=1  # keep __pycache__ out of the source tree
mkdir -p target/py-counter
"$cpy" -d wit -w durable-object componentize \
    -p guest-sdk/python -p examples/py-counter \
    app -o target/py-counter/py_counter.wasm
ls -l target/py-counter/py_counter.wasm
