#!/usr/bin/env bash
# Installs what Roster needs, in two profiles:
#
#   bash scripts/setup.sh          # serve: what `npm run dev` and `wrangler deploy` need
#   bash scripts/setup.sh test     # serve + what `npm test` adds (browsers, wasm-pack, clippy)
#
# serve: a C toolchain, pkg-config and OpenSSL headers (cargo builds worker-build, which links
# OpenSSL), Rust's wasm32 target, wasm-bindgen-cli and worker-build (built with cargo, pinned),
# Node 22 into .tools/node, and the npm dependencies from the lockfile.
# test adds: Chromium, chromedriver and Firefox ESR (apt), geckodriver and wasm-pack (cargo),
# rustup's clippy. (The Python SDK's venv is scripts/setup-python.sh, run by the tests.)
#
# Idempotent: each step is skipped when the pinned version is already present. Only crates.io,
# npm, PyPI and apt are assumed reachable, so nothing is downloaded from GitHub. System packages
# come from apt on Debian/Ubuntu (as root, or through sudo); elsewhere, or without root, setup
# names what to install and stops.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PROFILE=${1:-serve}
case "$PROFILE" in serve | test) ;; *) echo "usage: scripts/setup.sh [serve|test]" >&2; exit 2 ;; esac

WASM_PACK_VERSION=0.15.1
WASM_BINDGEN_VERSION=0.2.130   # must equal the wasm-bindgen pinned in Cargo.toml
WORKER_BUILD_VERSION=0.8.7
GECKODRIVER_VERSION=0.37.1
NODE_VERSION=22.23.3

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
die() { printf '\033[1m[setup]\033[0m %s\n' "$@" >&2; exit 1; }

# 1. System packages. Debian names; what each provides is checked by command where it can be, so
#    a machine that has them some other way passes.
need_apt=()
has_pkg() { command -v dpkg >/dev/null 2>&1 && dpkg -s "$1" >/dev/null 2>&1; }
want() { # debian-package check-command...
  local p=$1; shift
  has_pkg "$p" && return
  if [ $# -gt 0 ] && "$@" >/dev/null 2>&1; then return; fi
  need_apt+=("$p")
}
want build-essential command -v cc
want pkg-config command -v pkg-config
want libssl-dev pkg-config --exists openssl
if [ "$PROFILE" = test ]; then
  want chromium sh -c 'command -v chromium || command -v chromium-browser || command -v google-chrome'
  want chromium-driver command -v chromedriver
  want firefox-esr sh -c 'command -v firefox-esr || command -v firefox'
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" = 0 ] || { command -v sudo >/dev/null 2>&1 && SUDO=sudo; }
  if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" = 0 ] || [ -n "$SUDO" ]; }; then
    log "apt-get install ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    die "missing system packages (Debian names): ${need_apt[*]}" \
      "install them (or their equivalents) and run this again, for example:" \
      "  Debian/Ubuntu:  sudo apt-get install ${need_apt[*]}" \
      "  Fedora:         sudo dnf install gcc pkgconf-pkg-config openssl-devel chromium firefox" \
      "  macOS:          xcode-select --install; brew install pkg-config openssl@3 (browsers: the usual installers)" \
      "(the browsers and chromedriver are needed only by 'npm test', not by 'npm run dev')"
  fi
fi

# 2. Rust: the wasm target (and clippy for the lint steps of the tests).
command -v rustup >/dev/null 2>&1 || die "Rust is missing: install it with rustup (https://rustup.rs), then run this again"
if ! rustup target list --installed | grep -x wasm32-unknown-unknown >/dev/null; then
  log "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi
if [ "$PROFILE" = test ]; then
  rustup component list --installed 2>/dev/null | grep '^clippy' >/dev/null || rustup component add clippy
fi

# 3. Node 22 and the npm dependencies (steps 4 and 5 below) download while cargo compiles:
#    they wait on the network, cargo on the CPU.
command -v npm >/dev/null 2>&1 || die "npm is missing: install Node.js and npm (any version; Debian: apt-get install npm), then run this again"
mkdir -p "$ROOT/.tools"
js_log=$ROOT/.tools/setup-js.log
( set -euo pipefail; source "$ROOT/scripts/setup-js.sh" ) > "$js_log" 2>&1 &
js_pid=$!

# Cargo-built tools, pinned. Compiled unoptimized and without debug info (`--debug`: they run
# for seconds per build, and an optimized build of them takes minutes longer on a fresh
# machine), sharing one target directory so their common dependencies build once, removed after.
cargo_tool() { # bin version crate [extra args]
  local bin=$1 version=$2 crate=$3; shift 3
  # The output is read whole first: `grep -q` stops at its match, and a tool still printing
  # (geckodriver's --version is several lines) would die of SIGPIPE and, under pipefail, count
  # as missing, to be installed again.
  local out
  out=$("$bin" --version 2>/dev/null || true)
  if grep -qE "(^| )$version( |\$)" <<<"$out"; then return; fi
  log "cargo install $crate $version"
  CARGO_PROFILE_DEV_DEBUG=0 CARGO_INCREMENTAL=0 \
    cargo install "$crate" --version "$version" --force --debug --target-dir "$ROOT/.tools/cargo-install" "$@"
}
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
cargo_tool wasm-bindgen "$WASM_BINDGEN_VERSION" wasm-bindgen-cli
cargo_tool worker-build "$WORKER_BUILD_VERSION" worker-build --locked
if [ "$PROFILE" = test ]; then
  cargo_tool wasm-pack "$WASM_PACK_VERSION" wasm-pack --locked
  cargo_tool geckodriver "$GECKODRIVER_VERSION" geckodriver --locked   # for wasm-pack --firefox
fi
rm -rf "$ROOT/.tools/cargo-install"
if ! wait "$js_pid"; then
  cat "$js_log" >&2
  die "installing Node or the npm dependencies failed (above)"
fi
cat "$js_log"
export PATH="$ROOT/.tools/node/bin:$PATH"
tools="$(node --version), $(wasm-bindgen --version), $(worker-build --version 2>/dev/null || echo worker-build)"
[ "$PROFILE" = test ] && tools="$tools, $(wasm-pack --version)"
log "ready ($PROFILE): $tools"
