#!/usr/bin/env bash
# One command from a fresh clone: set up, build, and serve every example on 127.0.0.1:8787
# (holdfast.toml at the repository root). Extra arguments go to `holdfast serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "==> serving the examples (Ctrl-C stops)"
exec target/release/holdfast serve --config holdfast.toml "$@"
