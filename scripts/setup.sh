#!/usr/bin/env bash
# Sets up a fresh machine that has rustup (and python3, and Node.js with npm; libclang is
# installed with apt if missing), and builds
# everything: the host binary (target/release/holdfast) with the test targets, every guest
# component (target/wasm32-wasip2/release/*.wasm for Rust, target/py-*/ for Python, target/js-*/
# for JavaScript), and compiles every component once into the host's code cache.
# Safe to run again: it only rebuilds what changed. Prints how long each step took.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
step_started=$SECONDS
step() {
  if [ -n "${current_step:-}" ]; then
    echo "    (${current_step}: $((SECONDS - step_started)) s)"
  fi
  current_step=$1
  step_started=$SECONDS
  echo "==> $1"
}

step "toolchain (rust-toolchain.toml pins it) and the wasm32-wasip2 target"
rustup show active-toolchain >/dev/null 2>&1 || rustup toolchain install
rustup target add wasm32-wasip2

# The host's SQLite VFS crate (sqlite-plugin) generates its SQLite bindings with bindgen at build
# time, which needs libclang (Debian's libclang-dev).
step "system package: libclang (bindgen, for the SQLite VFS crate)"
have_libclang() {
  if command -v dpkg >/dev/null 2>&1; then
    dpkg -s libclang-dev >/dev/null 2>&1 # the library and clang's own headers
  else
    ldconfig -p 2>/dev/null | grep -q 'libclang'
  fi
}
if ! have_libclang; then
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq libclang-dev >/dev/null
fi

# One build of the host for both README commands: the binary and the test targets together,
# so that `cargo test` afterwards reuses every compiled crate (building the binary alone would
# unify dependency features differently and make the test run build wasmtime a second time).
step "host: target/release/holdfast and the test targets"
cargo build --release --locked --all-targets

step "Python guest toolchain: componentize-py 0.25.1 in target/pyenv (pinned)"
if [ ! -x target/pyenv/bin/componentize-py ]; then
  python3 -m venv target/pyenv
  target/pyenv/bin/pip install --quiet componentize-py==0.25.1
fi

step "JavaScript guest toolchain: componentize-js and esbuild in guest-sdk/js (package-lock.json pins them)"
command -v node >/dev/null 2>&1 || { echo "error: node (Node.js 18 or later) and npm are needed for the JavaScript guests" >&2; exit 1; }
(cd guest-sdk/js && npm install --no-audit --no-fund --loglevel=error)

step "the Cloudflare-style example project's npm packages (examples/cf-project: Hono)"
(cd examples/cf-project && npm ci --no-audit --no-fund --loglevel=error)

step "guest components"
scripts/build-guests.sh

# Compiling a JavaScript or Python component takes 10-15 s of CPU; doing it once here means
# servers (and the tests' many servers) start in milliseconds.
step "compiling every component into the code cache"
target/release/holdfast compile --config holdfast.toml
target/release/holdfast compile --config tests/guests.toml
target/release/holdfast compile --config examples/bank/holdfast.toml
# Builds the project's TypeScript (esbuild + componentize-js) into examples/cf-project/.holdfast/build.
target/release/holdfast compile --config examples/cf-project/wrangler.toml

step "done"
echo "    (set-up took $((SECONDS - started)) s in all)"
