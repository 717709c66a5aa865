#!/usr/bin/env bash
# Size budget of the npm package: prints the raw and gzip bytes of each pkg/*.wasm and fails
# when one is above the budget (gzip -9, 80 KiB). Run after scripts/build-pkg.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
BUDGET_GZIP=$((80 * 1024))

shopt -s nullglob
files=(pkg/*.wasm)
if [ ${#files[@]} -eq 0 ]; then
  echo "size: no pkg/*.wasm; run scripts/build-pkg.sh first" >&2
  exit 1
fi
status=0
for f in "${files[@]}"; do
  raw=$(wc -c < "$f")
  gz=$(gzip -9c "$f" | wc -c)
  verdict=ok
  if [ "$gz" -gt "$BUDGET_GZIP" ]; then
    verdict="OVER BUDGET by $((gz - BUDGET_GZIP)) bytes"
    status=1
  fi
  printf 'size: %s %d bytes raw, %d bytes gzip (budget %d gzip): %s\n' "$f" "$raw" "$gz" "$BUDGET_GZIP" "$verdict"
done
exit $status
