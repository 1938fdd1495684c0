#!/usr/bin/env bash
# Sets up a fresh machine that has rustup (and python3), and builds everything: the host binary
# (target/release/holdfast) and every guest component (target/wasm32-wasip2/release/*.wasm for
# Rust, target/py-counter/py_counter.wasm for Python, target/js-*/ for JavaScript).
# Safe to run again: it only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> toolchain (rust-toolchain.toml pins it) and the wasm32-wasip2 target"
rustup show active-toolchain >/dev/null 2>&1 || rustup toolchain install
rustup target add wasm32-wasip2

echo "==> host: target/release/holdfast"
cargo build --release --locked -p holdfast

echo "==> Python guest toolchain: componentize-py 0.25.1 in target/pyenv (pinned)"
if [ ! -x target/pyenv/bin/componentize-py ]; then
  python3 -m venv target/pyenv
  target/pyenv/bin/pip install --quiet componentize-py==0.25.1
fi

echo "==> JavaScript guest toolchain: componentize-js and esbuild in guest-sdk/js (package-lock.json pins them)"
command -v node >/dev/null 2>&1 || { echo "error: node (Node.js 18 or later) and npm are needed for the JavaScript guests" >&2; exit 1; }
(cd guest-sdk/js && npm install --no-audit --no-fund --loglevel=error)

scripts/build-guests.sh
