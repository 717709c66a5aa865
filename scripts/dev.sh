#!/usr/bin/env bash
# Serves Roster locally: installs what serving needs (scripts/setup.sh, the serve profile), builds the Worker, and runs it under
# `wrangler dev` (workerd) on http://127.0.0.1:$PORT (8787 unless PORT is set) with KV persisted in .wrangler/state.
# Prints development credentials (generated into .dev.vars on first run) and a server token.
# The playground page is at the same address, /.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
export ROSTER_BUILD=serve     # wrangler's [build] (scripts/build-worker.sh): quick to compile, for local use
export PORT="${PORT:-8787}"   # PORT=9000 npm run dev serves on another port
node scripts/credentials.mjs
exec wrangler dev --local --ip 127.0.0.1 --port "$PORT" --persist-to .wrangler/state \
  --show-interactive-dev-session=false \
  --var ROSTER_PLAYGROUND:on \
  --var ROSTER_DEV_TOKENS:1   # the playground page at /, which gets a server token from GET /_dev/token (dev only)
