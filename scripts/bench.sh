#!/usr/bin/env bash
# The core benchmark: builds everything, then runs holdfast-bench (see tests/src/bin/bench/).
# Arguments go to holdfast-bench, e.g. scripts/bench.sh --duration 5 --objects 2000.
# The counter in Rust, Python and JavaScript side by side, alone:
#   scripts/bench.sh --languages-only [--languages rust,python,js] [--lang-objects 1000,10000]
# Start-up with every example class, alone: scripts/bench.sh --startup-only
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
cargo build --release --locked -p holdfast-tests --bin holdfast-bench
exec target/release/holdfast-bench "$@"
