#!/usr/bin/env bash
# Builds every guest component: each crate under examples/ (and examples/*/) and tests/guests/, for wasm32-wasip2,
# the Python examples with componentize-py and the JavaScript ones with the JS SDK's build step
# (both toolchains installed by scripts/setup.sh).
# With WITH_CARGO_COMPONENT=1 it also builds examples/counter with `cargo component build`
# (target/wasm32-wasip1/release/counter.wasm), which the tests load to show that path works.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target/py-guests
packages=()
for manifest in examples/*/Cargo.toml examples/*/*/Cargo.toml tests/guests/*/Cargo.toml; do
  name=$(sed -n 's/^name = "\(.*\)"/\1/p' "$manifest" | head -n 1)
  packages+=(-p "$name")
done
echo "==> guests: ${packages[*]}"
cargo build --release --locked --target wasm32-wasip2 "${packages[@]}"
# The Python and JavaScript builds (guest-sdk/python/build.py, guest-sdk/js/build.mjs) keep
# their outputs in a build cache keyed by their inputs, so rebuilding gives the same bytes; a
# build still takes 5-15 s, so only what changed is rebuilt.
up_to_date() { # OUT SOURCE...: OUT exists and no file under the sources is newer
  local out=$1; shift
  [ -f "$out" ] || return 1
  [ -z "$(find "$@" \( -name node_modules -o -name __pycache__ \) -prune -o -type f -newer "$out" -print -quit)" ]
}
echo "==> Python guests"
py_sources=(guest-sdk/python wit target/pyenv/bin/componentize-py)
up_to_date target/py-counter/py_counter.wasm examples/py-counter "${py_sources[@]}" \
  || examples/py-counter/build.sh
up_to_date target/py-bank/auditor.wasm examples/bank/auditor "${py_sources[@]}" \
  || python3 guest-sdk/python/build.py examples/bank/auditor -o target/py-bank/auditor.wasm
# A Python worker: the `application` world (a worker export beside the class one).
up_to_date target/py-guests/worker.wasm tests/py-worker "${py_sources[@]}" \
  || python3 guest-sdk/python/build.py tests/py-worker --world application -o target/py-guests/worker.wasm
for dir in tests/py-guests/*/; do
  out="target/py-guests/$(basename "$dir").wasm"
  up_to_date "$out" "$dir" "${py_sources[@]}" && continue
  python3 guest-sdk/python/build.py "$dir" -o "$out"
done
echo "==> JavaScript guests"
# (not package-lock.json: npm install rewrites it unchanged)
js_sources=(guest-sdk/js/src guest-sdk/js/build.mjs guest-sdk/js/package.json wit)
up_to_date target/js-counter/js_counter.wasm examples/js-counter "${js_sources[@]}" \
  || examples/js-counter/build.sh
up_to_date target/js-chat-room/js_chat_room.wasm examples/js-chat-room "${js_sources[@]}" \
  || examples/js-chat-room/build.sh
up_to_date target/js-leaderboard/js_leaderboard.wasm examples/js-leaderboard "${js_sources[@]}" \
  || examples/js-leaderboard/build.sh
for file in tests/js-guests/*.js; do
  out="target/js-guests/$(basename "$file" .js).wasm"
  up_to_date "$out" "$file" "${js_sources[@]}" && continue
  node guest-sdk/js/build.mjs "$file" -o "$out"
done
if [ "${WITH_CARGO_COMPONENT:-0}" = 1 ]; then
  echo "==> examples/counter with cargo component"
  (cd examples/counter && cargo component build --release --locked)
fi
