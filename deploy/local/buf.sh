#!/usr/bin/env bash
# Runs buf (proto lint and breaking-change checks) from the npm registry's
# package, installed once into .tools/ at a pinned version.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
version=1.75.0
bin="$root/.tools/node_modules/.bin/buf"
if [ ! -x "$bin" ] || [ "$("$bin" --version 2>/dev/null)" != "$version" ]; then
  if ! command -v npm >/dev/null; then
    echo "[patron] installing npm to fetch buf" >&2
    if [ "$(id -u)" -eq 0 ]; then apt-get update -qq && apt-get install -y -qq npm >/dev/null; else sudo apt-get update -qq && sudo apt-get install -y -qq npm >/dev/null; fi
  fi
  mkdir -p "$root/.tools"
  npm install --silent --no-audit --no-fund --prefix "$root/.tools" "@bufbuild/buf@$version" >&2
fi
exec "$bin" "$@"
