#!/usr/bin/env bash
# Builds every guest component: each crate under examples/ and tests/guests/, for wasm32-wasip2.
set -euo pipefail
cd "$(dirname "$0")/.."
packages=()
for manifest in examples/*/Cargo.toml tests/guests/*/Cargo.toml; do
  name=$(sed -n 's/^name = "\(.*\)"/\1/p' "$manifest" | head -n 1)
  packages+=(-p "$name")
done
echo "==> guests: ${packages[*]}"
cargo build --release --locked --target wasm32-wasip2 "${packages[@]}"
