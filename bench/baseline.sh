#!/usr/bin/env bash
# Builds an earlier commit's Worker for a before/after comparison in one bench run (bench/hubs.mjs
# compares the Writer holding every socket, before issue 26, with connection hubs):
#   bash bench/baseline.sh [COMMIT]   (default: cb82ac4, the last commit before connection hubs)
# The commit is checked out as a git worktree in target/bench-baseline/<commit>/ (sharing this
# checkout's node_modules/ and .tools/, with its own cargo target directory) and its production
# Worker built there with its own scripts/build-worker.sh. Prints the worktree's path. Idempotent:
# an existing build of the same commit is reused.
set -euo pipefail
cd "$(dirname "$0")/.."
commit=$(git rev-parse --short "${1:-cb82ac4}")
dir="$PWD/target/bench-baseline/$commit"
if [ ! -f "$dir/build/index_bg.wasm" ] || [ ! -f "$dir/.built" ]; then
  git worktree remove --force "$dir" 2>/dev/null || true
  git worktree prune
  mkdir -p "$(dirname "$dir")"
  git worktree add --detach "$dir" "$commit" >&2
  ln -sfn "$PWD/node_modules" "$dir/node_modules"
  ln -sfn "$PWD/.tools" "$dir/.tools"
  (cd "$dir" && CARGO_TARGET_DIR="$dir/target" bash scripts/build-worker.sh >&2)
  touch "$dir/.built"
fi
echo "$dir"
