#!/usr/bin/env bash
# Makes sure PostgreSQL and Redis answer on localhost: installs them from the
# distribution's packages when absent (Debian/Ubuntu), starts them when stopped.
# Safe to run again and again; does nothing when both already answer.
set -euo pipefail

PGHOST_ADDR=${PATRON_PG_HOST:-127.0.0.1}
PGPORT_NUM=${PATRON_PG_PORT:-5432}
REDIS_PORT=${PATRON_REDIS_PORT:-6379}

say() { printf '[patron] %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    say "need root to run: $*"; exit 1; fi
}

apt_ready=0
apt_install() {
  if ! command -v apt-get >/dev/null; then
    say "cannot install $*: no apt-get here; install it with your package manager"; exit 1
  fi
  if [ "$apt_ready" = 0 ]; then as_root apt-get update -qq; apt_ready=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

postgres_up() { pg_isready -q -h "$PGHOST_ADDR" -p "$PGPORT_NUM" 2>/dev/null; }

ensure_postgres() {
  if command -v pg_isready >/dev/null && postgres_up; then return; fi
  local fresh=0
  if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    say "installing PostgreSQL from the distribution's packages"
    apt_install postgresql postgresql-client
    fresh=1
  fi
  local version
  version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
  if ! pg_lsclusters -h 2>/dev/null | grep -q .; then
    as_root pg_createcluster "$version" main >/dev/null
    fresh=1
  fi
  local cluster
  cluster=$(pg_lsclusters -h | awk 'NR==1 {print $1" "$2}')
  if [ "$fresh" = 1 ]; then
    # A development machine: local connections without passwords, as the
    # README's commands and the tests expect. Never do this on a shared host.
    local hba="/etc/postgresql/${cluster% *}/${cluster#* }/pg_hba.conf"
    as_root sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
    as_root sed -i -E 's/^(local\s+all\s+all\s+)\S+/\1trust/' "$hba"
  fi
  say "starting PostgreSQL cluster $cluster"
  # shellcheck disable=SC2086
  as_root pg_ctlcluster --skip-systemctl-redirect $cluster start || true
  for _ in $(seq 1 60); do postgres_up && return; sleep 0.5; done
  say "PostgreSQL did not come up on $PGHOST_ADDR:$PGPORT_NUM"; exit 1
}

redis_up() { [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = "PONG" ]; }

ensure_redis() {
  if command -v redis-cli >/dev/null && redis_up; then return; fi
  if ! command -v redis-server >/dev/null; then
    say "installing Redis from the distribution's packages"
    apt_install redis-server
  fi
  say "starting Redis on port $REDIS_PORT"
  as_root mkdir -p /var/lib/redis /var/log/redis
  # Events travel through this Redis too: it must keep what it is given
  # across a restart (append-only file) and never evict a stream.
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" \
    --appendonly yes --appendfsync everysec --maxmemory-policy noeviction \
    --dir /var/lib/redis --logfile /var/log/redis/patron.log
  for _ in $(seq 1 40); do redis_up && return; sleep 0.25; done
  say "Redis did not come up on port $REDIS_PORT"; exit 1
}

if ! command -v pg_isready >/dev/null; then apt_install postgresql-client; fi
ensure_postgres
if ! command -v redis-cli >/dev/null; then apt_install redis-tools; fi
ensure_redis
say "PostgreSQL ($PGHOST_ADDR:$PGPORT_NUM) and Redis (127.0.0.1:$REDIS_PORT) answer"
