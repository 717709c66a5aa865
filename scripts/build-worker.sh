#!/usr/bin/env bash
# Builds the Worker into build/ with worker-build, using local tools only (its defaults download
# wasm-bindgen and esbuild from GitHub), then shrinks the wasm with binaryen's wasm-opt (from npm):
# -Oz, and the debug/name sections stripped. Run by `wrangler dev`/`deploy` through wrangler.toml.
# With ROSTER_BUILD=serve (set by scripts/dev.sh) it builds Cargo's `serve` profile and skips
# wasm-opt: the same code, compiled for speed of building, for a local server only.
# With ROSTER_HOOKS=1 it compiles in the test-only routes and switches (feature `test-hooks`):
# the build scripts/test.sh runs its Worker suites against. build/features names what was built.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
features=worker
if [ "${ROSTER_HOOKS:-}" = 1 ]; then features=worker,test-hooks; fi
mkdir -p build
rm -f build/features
if [ "${ROSTER_BUILD:-}" = serve ]; then
  worker-build --profile serve --features "$features"
  echo "$features" > build/features
  echo "[build-worker] build/index_bg.wasm: $(stat -c %s build/index_bg.wasm) bytes (profile serve: local use only)"
  bash scripts/build-www.sh
  exit 0
fi
worker-build --release --features "$features"
echo "$features" > build/features
wasm_features="--enable-bulk-memory --enable-nontrapping-float-to-int --enable-reference-types --enable-sign-ext
  --enable-exception-handling --enable-multivalue --enable-mutable-globals"
# --converge and --low-memory-unused as for the npm package (scripts/build-pkg.sh says why).
# ROSTER_KEEP_NAMES=1 keeps the function names, for profiles (bench/worker-profile.mjs).
strip="--strip-debug --strip-producers"
if [ "${ROSTER_KEEP_NAMES:-}" = 1 ]; then strip="-g"; fi
# shellcheck disable=SC2086
wasm-opt -Oz --converge --low-memory-unused $strip $wasm_features \
  build/index_bg.wasm -o build/index_bg.opt.wasm
mv build/index_bg.opt.wasm build/index_bg.wasm
raw=$(stat -c %s build/index_bg.wasm)
gz=$(gzip -9c build/index_bg.wasm | wc -c)
echo "[build-worker] build/index_bg.wasm: $raw bytes raw, $gz bytes gzip"
bash scripts/build-www.sh   # the playground page, served as static assets (wrangler.toml [assets])
