#!/usr/bin/env bash
# Builds examples/js-leaderboard into target/js-leaderboard/js_leaderboard.wasm with the JS SDK's
# build step (guest-sdk/js, whose node_modules scripts/setup.sh installs with `npm ci`).
set -euo pipefail
cd "$(dirname "$0")/../.."
node guest-sdk/js/build.mjs examples/js-leaderboard/leaderboard.js -o target/js-leaderboard/js_leaderboard.wasm
