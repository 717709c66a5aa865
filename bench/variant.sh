#!/usr/bin/env bash
# Builds a variant of the npm package's wasm for speed comparisons, without touching pkg/:
#   bash bench/variant.sh NAME [OPT_LEVEL] [WASM_OPT_FLAGS] [extra cargo args]
# e.g. `bash bench/variant.sh s s -Oz`, `bash bench/variant.sh o3 3 -O3`, or
# `bash bench/variant.sh named s "-Oz -g"` (keeps function names for `node --cpu-prof`).
# Output: target/bench-variants/NAME/pkg/node.js, for `node bench/ab.mjs` or
# `ROSTER_PKG=… node bench/core.mjs`. Defaults are the package build's: opt-level s, -Oz.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
name=$1
opt=${2:-s}
wasm_opt=${3:--Oz}
shift $(($# < 3 ? $# : 3))
export CARGO_TARGET_DIR=target/bench-variants/cargo
CARGO_PROFILE_RELEASE_OPT_LEVEL=$opt cargo build --quiet --release --target wasm32-unknown-unknown --features js --lib "$@"
out=target/bench-variants/$name
rm -rf "$out"
mkdir -p "$out/bindgen" "$out/pkg"
wasm-bindgen --target web --no-typescript --out-dir "$out/bindgen" --out-name roster \
  "$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/roster.wasm"
# shellcheck disable=SC2086
wasm-opt $wasm_opt --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-reference-types --enable-multivalue \
  "$out/bindgen/roster_bg.wasm" -o "$out/pkg/roster_bg.wasm"
bash scripts/patch-glue.sh "$out/bindgen/roster.js"   # as the package's glue is
cp "$out/bindgen/roster.js" src/js/package/node.js src/js/package/boundary.js "$out/pkg/"
echo "$out/pkg/node.js: wasm $(wc -c < "$out/pkg/roster_bg.wasm") bytes raw, $(gzip -9c "$out/pkg/roster_bg.wasm" | wc -c) gzip"
