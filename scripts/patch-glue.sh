#!/usr/bin/env bash
# Patches wasm-bindgen's generated glue (the file given) for speed, in place:
#   bash scripts/patch-glue.sh target/js-bindgen/roster.js
# The glue copies the ASCII start of every string passed into wasm one character at a time in
# JavaScript, then hands the rest to TextEncoder.encodeInto. For long strings (request bodies,
# stored records) encodeInto alone is about 4x faster on ASCII text: strings of 128 characters
# or more skip the loop (the batch entry points 1.09-1.13x on small ASCII users, BENCHMARKS.md).
# The line must be there exactly once: a wasm-bindgen upgrade that changes it fails the build
# rather than silently dropping the change. Used by scripts/build-pkg.sh and bench/variant.sh.
set -euo pipefail
glue=$1
loop='    for (; offset < len; offset++) {'
if [ "$(grep -cxF "$loop" "$glue")" != 1 ]; then
  echo "patch-glue: wasm-bindgen's string loop not found once in $glue; update scripts/patch-glue.sh" >&2
  exit 1
fi
sed -i 's/^    for (; offset < len; offset++) {$/    for (; offset < len \&\& len < 128; offset++) {/' "$glue"
