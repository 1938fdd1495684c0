#!/usr/bin/env bash
# Builds every guest component: each crate under examples/ and tests/guests/, for wasm32-wasip2,
# the Python examples with componentize-py and the JavaScript ones with the JS SDK's build step
# (both toolchains installed by scripts/setup.sh).
# With WITH_CARGO_COMPONENT=1 it also builds examples/counter with `cargo component build`
# (target/wasm32-wasip1/release/counter.wasm), which the tests load to show that path works.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target/py-guests
packages=()
for manifest in examples/*/Cargo.toml tests/guests/*/Cargo.toml; do
  name=$(sed -n 's/^name = "\(.*\)"/\1/p' "$manifest" | head -n 1)
  packages+=(-p "$name")
done
echo "==> guests: ${packages[*]}"
cargo build --release --locked --target wasm32-wasip2 "${packages[@]}"
echo "==> Python guests"
examples/py-counter/build.sh
for dir in tests/py-guests/*/; do
  PYTHONDONTWRITEBYTECODE=1 target/pyenv/bin/componentize-py -d wit -w durable-object componentize \
    -p guest-sdk/python -p "$dir" app -o "target/py-guests/$(basename "$dir").wasm"
done
echo "==> JavaScript guests"
examples/js-counter/build.sh
examples/js-chat-room/build.sh
for file in tests/js-guests/*.js; do
  node guest-sdk/js/build.mjs "$file" -o "target/js-guests/$(basename "$file" .js).wasm"
done
if [ "${WITH_CARGO_COMPONENT:-0}" = 1 ]; then
  echo "==> examples/counter with cargo component"
  (cd examples/counter && cargo component build --release --locked)
fi
