#!/usr/bin/env bash
# Sets up a fresh machine that has rustup, and builds everything: the host binary
# (target/release/holdfast) and every guest component (target/wasm32-wasip2/release/*.wasm).
# Safe to run again: it only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> toolchain (rust-toolchain.toml pins it) and the wasm32-wasip2 target"
rustup show active-toolchain >/dev/null 2>&1 || rustup toolchain install
rustup target add wasm32-wasip2

echo "==> host: target/release/holdfast"
cargo build --release --locked -p holdfast

scripts/build-guests.sh
