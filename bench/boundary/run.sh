#!/usr/bin/env bash
# Builds the boundary bench three ways (json, swb, both), prints each variant's wasm size after
# wasm-opt -Oz (raw and gzip) and then the speed of both boundaries on the same operations.
set -euo pipefail
cd "$(dirname "$0")"
source ../../scripts/env.sh
export CARGO_TARGET_DIR=../../target/bench-boundary
[ -f Cargo.lock ] || cp ../../Cargo.lock Cargo.lock
out=$CARGO_TARGET_DIR/out
mkdir -p "$out"
for variant in json swb json,swb; do
  name=${variant/,/-}
  cargo build --quiet --release --target wasm32-unknown-unknown --features "$variant"
  wasm-bindgen --target nodejs --no-typescript --out-dir "$out/$name" --out-name bench \
    "$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/roster_boundary_bench.wasm"
  wasm-opt -Oz --strip-debug --strip-producers --enable-bulk-memory --enable-nontrapping-float-to-int \
    --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
    "$out/$name/bench_bg.wasm" -o "$out/$name/bench_bg.wasm"
  echo '{"type": "commonjs"}' > "$out/$name/package.json"
  printf '%-8s wasm %7d bytes raw, %6d gzip\n' "$name" \
    "$(wc -c < "$out/$name/bench_bg.wasm")" "$(gzip -9c "$out/$name/bench_bg.wasm" | wc -c)"
done
node bench.cjs "$out/json-swb/bench.js"
