#!/usr/bin/env bash
# `npm run bench`: installs what is missing (scripts/setup.sh), builds the npm package (pkg/)
# and the Worker (build/), then runs bench/run.mjs, which prints the tables BENCHMARKS.md
# reports (sizes, the core against plain JavaScript, the Worker under load) and saves them in
# test-output/. Arguments go to bench/run.mjs (--quick, --skip-worker, --skip-core).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
bash scripts/build-pkg.sh
bash scripts/build-worker.sh
node bench/run.mjs "$@"
