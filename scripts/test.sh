#!/usr/bin/env bash
# One command from a fresh clone: set up, build, and run the whole test suite (unit tests and
# integration tests that drive the real binary over 127.0.0.1). It also installs Debian's
# chromium for the browser test of the chat page.
#
# WITH_CARGO_COMPONENT=1 also installs cargo-component 0.21.1 (about 20 minutes of compiling on
# two cores, once), builds examples/counter with it and runs the test of that build, which is
# otherwise skipped as ignored.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
extra=()
if [ "${WITH_CARGO_COMPONENT:-0}" = 1 ]; then
  if ! command -v cargo-component >/dev/null 2>&1; then
    echo "==> installing cargo-component 0.21.1 (once)"
    cargo install cargo-component --locked --version 0.21.1
  fi
  extra=(--include-ignored)
fi
if ! command -v chromium >/dev/null 2>&1; then
  echo "==> installing Debian's chromium (the chat page is tested in a headless browser)"
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y chromium
fi
# The cluster tests (tests/tests/cluster.rs) start a real PostgreSQL server of their own
# (initdb into a temporary directory) and put each node in a network namespace, which needs
# root. As root they are required: a missing PostgreSQL is then a failure, not a skip.
if [ "$(id -u)" = 0 ]; then
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "==> installing Debian's postgresql (the cluster tests run three nodes over it)"
    apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
  fi
  export HOLDFAST_REQUIRE_CLUSTER_TESTS=1
fi
scripts/setup.sh
echo "==> tests"
tests_started=$SECONDS
cargo test --release --locked "$@" -- "${extra[@]}"
echo "    (tests: $((SECONDS - tests_started)) s; test.sh in all: $((SECONDS - started)) s)"
