#!/usr/bin/env bash
# The core benchmark: builds everything, then runs holdfast-bench (see tests/src/bin/bench.rs).
# Arguments go to holdfast-bench, e.g. scripts/bench.sh --duration 5 --objects 2000.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
cargo build --release --locked -p holdfast-tests --bin holdfast-bench
exec target/release/holdfast-bench "$@"
