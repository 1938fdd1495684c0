#!/usr/bin/env bash
# Builds examples/js-counter into target/js-counter/js_counter.wasm with the JS SDK's build step
# (guest-sdk/js, whose node_modules scripts/setup.sh installs with `npm ci`).
set -euo pipefail
cd "$(dirname "$0")/../.."
node guest-sdk/js/build.mjs examples/js-counter/counter.js -o target/js-counter/js_counter.wasm
