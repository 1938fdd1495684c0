#!/usr/bin/env bash
# One command from a fresh clone: set up, build, and run the whole test suite (unit tests and
# integration tests that drive the real binary over 127.0.0.1). It also installs cargo-component
# (once, a few minutes) because the tests check that `cargo component build` works too.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo-component >/dev/null 2>&1; then
  echo "==> installing cargo-component 0.21.1 (once)"
  cargo install cargo-component --locked --version 0.21.1
fi
WITH_CARGO_COMPONENT=1 scripts/setup.sh
echo "==> tests"
cargo test --release --locked "$@"
