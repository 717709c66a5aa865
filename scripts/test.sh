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
