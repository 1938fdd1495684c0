#!/usr/bin/env bash
# The soak benchmark: builds everything, then runs holdfast-soak (see tests/src/bin/soak/):
# 10 minutes of mixed load with a disk-full episode, RSS sampled, then a kill -9 and a check
# that every acknowledged increment is there. Arguments go to holdfast-soak, e.g.
#   scripts/soak.sh --minutes 3
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
cargo build --release --locked -p holdfast-tests --bin holdfast-soak
exec target/release/holdfast-soak "$@"
