#!/usr/bin/env bash
# Builds the npm package into pkg/: the core with feature `js` for wasm32, wasm-bindgen's ESM
# glue (--target web, one build for every environment), wasm-opt -Oz, and the hand-written
# entry modules and TypeScript declarations from src/js/package/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

# Profile `npm` (Cargo.toml): opt-level "s". With ROSTER_BUILD=serve (scripts/dev.sh, for the
# playground of a local server) profile `serve` and no wasm-opt: quicker to build, larger.
profile=npm
[ "${ROSTER_BUILD:-}" = serve ] && profile=serve
cargo build --quiet --profile "$profile" --target wasm32-unknown-unknown --features js --lib

bindgen=target/js-bindgen
rm -rf "$bindgen"
wasm-bindgen --target web --no-typescript --out-dir "$bindgen" --out-name roster \
  "target/wasm32-unknown-unknown/$profile/roster.wasm"
# Long strings enter wasm through TextEncoder.encodeInto alone (scripts/patch-glue.sh says why).
bash scripts/patch-glue.sh "$bindgen/roster.js"

mkdir -p pkg
rm -f pkg/*.js pkg/*.d.ts pkg/*.wasm
if [ "$profile" = serve ]; then
  cp "$bindgen/roster_bg.wasm" pkg/roster_bg.wasm
  cp "$bindgen/roster.js" pkg/roster.js
  cp src/js/package/node.js src/js/package/browser.js src/js/package/workerd.js src/js/package/boundary.js src/js/package/index.d.ts pkg/
  echo serve > pkg/.profile
  echo "built pkg/ (profile serve: for the local playground, not for publishing): $(cd pkg && ls | tr '\n' ' ')"
  exit 0
fi
# The features Rust enables for wasm32 by default; -Oz keeps every export. --converge repeats
# the passes while they still shrink the module; --low-memory-unused lets binaryen fold constant
# offsets into loads and stores: Rust never touches the first 1 KiB (its stack grows down from
# 1 MiB to it, and its data and heap lie above). Both measured on the npm package's wasm.
wasm-opt -Oz --converge --low-memory-unused --strip-debug --strip-producers --strip-target-features --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-reference-types --enable-multivalue \
  "$bindgen/roster_bg.wasm" -o pkg/roster_bg.wasm
cp "$bindgen/roster.js" pkg/roster.js
cp src/js/package/node.js src/js/package/browser.js src/js/package/workerd.js src/js/package/boundary.js src/js/package/index.d.ts pkg/
echo npm > pkg/.profile   # which profile built pkg/ (scripts/build-www.sh reads it)
echo "built pkg/: $(cd pkg && ls | tr '\n' ' ')"
