#!/usr/bin/env bash
# Builds examples/js-chat-room into target/js-chat-room/js_chat_room.wasm with the JS SDK's build
# step (guest-sdk/js, whose node_modules scripts/setup.sh installs with `npm ci`). The page is
# examples/chat-room/src/page.html, bundled as text.
set -euo pipefail
cd "$(dirname "$0")/../.."
node guest-sdk/js/build.mjs examples/js-chat-room/chat-room.js -o target/js-chat-room/js_chat_room.wasm
