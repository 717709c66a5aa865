#!/usr/bin/env bash
# Size budgets of the two wasm artifacts (gzip -9): the npm package's pkg/*.wasm (156 KiB, from
# 148 KiB: issue 23's UserStore writes over records, with their own index check, ≈ 9 KB, and the
# batch responses' users in id order, ≈ 1.5 KB; from
# 122 KiB: issue 27's confusables table (UTS #39, ≈ 21 KB) and UserStore's cursors (≈ 4 KB); from
# 120 KiB: issue 24's settings table and issue 27's connect fill-only; from 90 KiB: the batch entry points over records and the speed-optimized `npm` profile, issue 14;
# from 80 KiB: tenancy and permissions; BENCHMARKS.md "Sizes" argues it) after
# scripts/build-pkg.sh, and the Worker's build/index_bg.wasm (267 KiB, from 265 KiB: issue 23's
# Writer on the record path, ≈ 20 KB, less ≈ 5 KB of B-trees and a stable sort taken out first;
# from 264 KiB: issue 23's uniqueness rules over either form of a user, ≈ 1.2 KB; from 240 KiB: issue 26's
# Hub Durable Object class, the hubs' reports and event delivery, ≈ 24 KB; from 225 KiB: issue 27's
# confusables table, ≈ 17 KB; from 210 KiB: issue 24's production switches,
# issue 27's change feed, versions and cursors; from 150 KiB: the SQLite
# Writer, outbox, query planner, tenancy, /api/v2, tasks, exports, guests, events and webhooks,
# less serde_json's float_roundtrip, plus what Stream's current SDKs need (issue 25: rate limits,
# nanosecond times); BENCHMARKS.md "Sizes" argues it) after
# scripts/build-worker.sh. Prints the raw and gzip bytes of each and fails when one
# is over.
#   size.sh          the package, and the Worker when build/index_bg.wasm exists
#   size.sh pkg      the package only
#   size.sh worker   the Worker only
set -euo pipefail
cd "$(dirname "$0")/.."
PKG_BUDGET_GZIP=$((156 * 1024))
WORKER_BUDGET_GZIP=$((267 * 1024))
WORKER_WASM=build/index_bg.wasm
what="${1:-all}"
case "$what" in all | pkg | worker) ;; *) echo "usage: size.sh [pkg|worker]" >&2; exit 2 ;; esac

status=0
check() { # file budget
  local raw gz verdict=ok
  raw=$(wc -c < "$1")
  gz=$(gzip -9c "$1" | wc -c)
  if [ "$gz" -gt "$2" ]; then
    verdict="OVER BUDGET by $((gz - $2)) bytes"
    status=1
  fi
  printf 'size: %s %d bytes raw, %d bytes gzip (budget %d gzip): %s\n' "$1" "$raw" "$gz" "$2" "$verdict"
}

if [ "$what" = all ] || [ "$what" = pkg ]; then
  shopt -s nullglob
  files=(pkg/*.wasm)
  if [ ${#files[@]} -eq 0 ]; then
    echo "size: no pkg/*.wasm; run scripts/build-pkg.sh first" >&2
    exit 1
  fi
  for f in "${files[@]}"; do check "$f" "$PKG_BUDGET_GZIP"; done
fi
if [ "$what" = worker ] || { [ "$what" = all ] && [ -f "$WORKER_WASM" ]; }; then
  if [ ! -f "$WORKER_WASM" ]; then
    echo "size: no $WORKER_WASM; run scripts/build-worker.sh first" >&2
    exit 1
  fi
  check "$WORKER_WASM" "$WORKER_BUDGET_GZIP"
fi
exit $status
