# Sourced by the project's scripts: puts the project-local Node 22 and tools first on PATH and
# points worker-build at local binaries (its defaults download from GitHub).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
export PATH="$ROOT/.tools/node/bin:$ROOT/node_modules/.bin:$CARGO_BIN:$PATH"
export WASM_BINDGEN_BIN="$CARGO_BIN/wasm-bindgen"
export WASM_OPT_BIN="$ROOT/node_modules/.bin/wasm-opt"
export ESBUILD_BIN="$ROOT/node_modules/.bin/esbuild"
export WRANGLER_SEND_METRICS=false
export CLOUDFLARE_CF_FETCH_ENABLED=false
export NO_UPDATE_NOTIFIER=1
# Stream's JS SDK overrides baseURL when these are set; keep tests pointed where they say.
unset STREAM_LOCAL_TEST_RUN STREAM_LOCAL_TEST_HOST
