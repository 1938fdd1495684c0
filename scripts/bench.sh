#!/usr/bin/env bash
# The core benchmark: builds everything, then runs holdfast-bench (see tests/src/bin/bench/).
# Arguments go to holdfast-bench, e.g. scripts/bench.sh --duration 5 --objects 2000.
# The counter in Rust, Python and JavaScript side by side, alone:
#   scripts/bench.sh --languages-only [--languages rust,python,js] [--lang-objects 1000,10000]
# Start-up with every example class, alone: scripts/bench.sh --startup-only
# Cluster mode (as root, PostgreSQL installed): scripts/bench.sh --cluster-only
set -euo pipefail
cd "$(dirname "$0")/.."
# The set-up builds every target (holdfast-bench too) in one build: building the bench alone
# (`-p`) would unify dependency features differently and compile wasmtime a second time.
scripts/setup.sh >/dev/null
exec target/release/holdfast-bench "$@"
