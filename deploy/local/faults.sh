#!/usr/bin/env bash
# The fault suite: builds `patron` and the `fault-suite` binary (debug), then
# runs Patron's services as separate processes on a PostgreSQL cluster and a
# Redis of their own (loopback, free ports, a temporary directory; never the
# machine's own at 5432/6379) under a mixed write load while it, in turn,
# restarts Redis with and without its data, SIGKILLs services, restarts
# PostgreSQL in immediate mode and freezes a consumer past its claim timeout,
# checking the invariants from the database and the streams after each.
# Exits non-zero naming the broken invariant. Needs initdb/pg_ctl
# (/usr/lib/postgresql/*/bin, or PATRON_FAULTS_PG_BIN) and redis-server.
# PATRON_FAULTS_KEEP=1 keeps the directory (logs of every process).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
target_dir=${CARGO_TARGET_DIR:-$root/target}

say() { printf '[patron] %s\n' "$*" >&2; }

command -v redis-server >/dev/null || { say "the fault suite needs redis-server"; exit 1; }
cargo build --locked -p patron -p patron-suite-tests --bin patron --bin fault-suite

# The suite makes its directory in here; whatever survives it (the suite
# itself killed) is stopped and removed on the way out.
work=$(mktemp -d -t patron-faults.XXXXXX)
chmod 755 "$work"
cleanup() {
  local pidfile pid
  for pidfile in "$work"/*/pg/data/postmaster.pid "$work"/*/*.pid; do
    [ -f "$pidfile" ] || continue
    pid=$(head -n 1 "$pidfile")
    case "$pid" in ''|*[!0-9]*) continue ;; esac
    # Only a process of the suite's (its pid not reused meanwhile).
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qE "$work|patron|redis-server"; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  if [ "${PATRON_FAULTS_KEEP:-0}" = 1 ]; then say "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

started=$(date +%s)
TMPDIR=$work "$target_dir/debug/fault-suite"
say "fault suite passed in $(( $(date +%s) - started )) s"
