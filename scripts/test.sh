#!/usr/bin/env bash
# One command from a fresh clone: set up, build, and run the whole test suite (unit tests and
# integration tests that drive the real binary over 127.0.0.1).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "==> tests"
cargo test --release --locked "$@"
