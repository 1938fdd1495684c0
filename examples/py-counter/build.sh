#!/usr/bin/env bash
# Builds examples/py-counter into target/py-counter/py_counter.wasm with componentize-py.
# Run from anywhere; works offline once componentize-py is installed in target/pyenv:
#   python3 -m venv target/pyenv && target/pyenv/bin/pip install componentize-py==0.25.1
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
python3 guest-sdk/python/build.py examples/py-counter -o target/py-counter/py_counter.wasm
