#!/usr/bin/env bash
# Serves Roster locally: installs what is missing, builds the Worker, and runs it under
# `wrangler dev` (workerd) on http://127.0.0.1:8787 with KV persisted in .wrangler/state.
# Prints development credentials (generated into .dev.vars on first run) and a server token.
# The playground page is at http://127.0.0.1:8787/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
node scripts/credentials.mjs
PORT="${PORT:-8787}"
exec wrangler dev --local --ip 127.0.0.1 --port "$PORT" --persist-to .wrangler/state \
  --show-interactive-dev-session=false \
  --var ROSTER_DEV_TOKENS:1   # the playground gets a server token from GET /_dev/token (dev only)
