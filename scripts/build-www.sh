#!/usr/bin/env bash
# Assembles the playground into build/www, the Worker's static assets (wrangler.toml [assets]):
# the page's sources from www/ plus the npm package's web build (browser.js, roster.js, boundary.js and
# roster_bg.wasm from pkg/) under build/www/pkg/. Builds pkg/ first (scripts/build-pkg.sh) when
# it is missing, older than its sources, or built with another profile than this build's (npm, or
# serve under ROSTER_BUILD=serve: pkg/.profile says which). Safe to re-run while `npm run dev` serves the page.
set -euo pipefail
cd "$(dirname "$0")/.."

web_build=(pkg/browser.js pkg/roster.js pkg/boundary.js pkg/roster_bg.wasm)
stale=""
for f in "${web_build[@]}"; do [ -f "$f" ] || stale="$f is missing"; done
want_profile=npm
[ "${ROSTER_BUILD:-}" = serve ] && want_profile=serve
if [ -z "$stale" ] && [ "$(cat pkg/.profile 2>/dev/null)" != "$want_profile" ]; then
  stale="pkg/ was not built with profile $want_profile"
fi
if [ -z "$stale" ]; then
  # The package is built from everything under src/ except the Worker layer.
  newer=$(find src Cargo.toml Cargo.lock scripts/build-pkg.sh -path src/edge -prune -o \
    -type f -newer pkg/roster_bg.wasm -print -quit)
  [ -z "$newer" ] || stale="$newer is newer than pkg/"
fi
if [ -n "$stale" ]; then
  echo "[build-www] building pkg/ ($stale)"
  bash scripts/build-pkg.sh
fi

out=build/www
rm -rf "$out.tmp"
mkdir -p "$out.tmp/pkg"
cp www/* "$out.tmp/"
cp "${web_build[@]}" "$out.tmp/pkg/"
rm -rf "$out"
mv "$out.tmp" "$out"
echo "[build-www] $out: $(cd "$out" && find . -type f | sort | tr '\n' ' ')"
