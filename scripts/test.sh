#!/usr/bin/env bash
# One command from a fresh clone: set up, build, and run the whole test suite (unit tests and
# integration tests that drive the real binary over 127.0.0.1). It also installs cargo-component
# (once, a few minutes) because the tests check that `cargo component build` works too, and
# Debian's chromium for the browser test of the chat page.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo-component >/dev/null 2>&1; then
  echo "==> installing cargo-component 0.21.1 (once)"
  cargo install cargo-component --locked --version 0.21.1
fi
if ! command -v chromium >/dev/null 2>&1; then
  echo "==> installing Debian's chromium (the chat page is tested in a headless browser)"
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y chromium
fi
WITH_CARGO_COMPONENT=1 scripts/setup.sh
echo "==> tests"
cargo test --release --locked "$@"
