#!/usr/bin/env bash
# Runs every test: installs what is missing (scripts/setup.sh), then the native core tests,
# lint, the npm package tests (Node, workerd, headless Chromium) and the Worker tests against
# workerd with the official stream-chat SDK as the client.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
mkdir -p test-output

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "core: cargo test (native unit, integration and property tests)"
cargo test --quiet

step "lint: rustfmt and clippy (unwrap/expect/panic denied outside tests)"
cargo fmt --check
cargo clippy --quiet --all-targets -- -D warnings

step "npm package: build pkg/ (cargo --features js, wasm-bindgen --target web, wasm-opt) and lint it for wasm32"
bash scripts/build-pkg.sh
cargo clippy --quiet --target wasm32-unknown-unknown --features js --lib -- -D warnings

step "npm package: Node tests (exports, UserStore, npm pack → Node 22 / workerd / Chromium, tsc --noEmit)"
node --test tests/js/api.test.mjs tests/js/store.test.mjs tests/js/package.test.mjs

step "npm package: the core's cases through wasm (wasm-pack test in headless Chromium, then Node)"
WASM_BINDGEN_USE_BROWSER=1 wasm-pack test --headless --chrome -- --test wasm
wasm-pack test --node -- --test wasm

step "npm package: size of pkg/*.wasm (raw and gzip bytes; fails above 80 KiB gzip)"
size_status=0
bash scripts/size.sh || size_status=$?
# Reported here, enforced when the run ends, so the steps after this one still run.
trap '[ "$size_status" -eq 0 ] || { echo "FAILED: pkg/*.wasm is over its size budget (see the size step above)" >&2; exit 1; }' EXIT
