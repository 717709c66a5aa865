#!/usr/bin/env bash
# Builds the Worker into build/ with worker-build, using local tools only (its defaults download
# wasm-bindgen and esbuild from GitHub). Run by `wrangler dev`/`deploy` through wrangler.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
exec worker-build --release --features worker
