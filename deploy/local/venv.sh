#!/usr/bin/env bash
# Makes .patron/venv hold the pinned Python tools of requirements.txt (the
# manifests' validator, schemathesis) and prints its path. Safe to run again:
# installs only when the requirements changed since the last install.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv="$root/.patron/venv"
requirements="$root/deploy/local/requirements.txt"
stamp="$venv/.requirements.sha256"

say() { printf '[patron] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v python3 >/dev/null; then
  say "installing python3"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null
fi
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
  rm -rf "$venv"
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    # Debian ships venv (ensurepip) apart from python3 itself.
    say "installing python3-venv"
    rm -rf "$venv"
    minor=$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "python$minor-venv" >/dev/null ||
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$venv"
  fi
fi
want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing the Python tools of deploy/local/requirements.txt into .patron/venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$requirements" >&2
  echo "$want" >"$stamp"
fi
echo "$venv"
