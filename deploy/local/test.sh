#!/usr/bin/env bash
# Every check and every test: formatting, clippy with warnings as errors, proto
# lint, the Kubernetes manifests, then unit and integration tests against a
# real PostgreSQL and Redis, the fault suite, and schemathesis against the
# running gateway.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

deploy/local/ensure-datastores.sh

admin_url=${PATRON_TEST_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
# Databases left by interrupted earlier runs (each test drops its own).
for db in $(psql "$admin_url" -Atc "SELECT datname FROM pg_database WHERE datname LIKE 'patron\_t\_%'" 2>/dev/null); do
  psql "$admin_url" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
done

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== buf lint"
(cd proto && "$root/deploy/local/buf.sh" lint)
echo "== Kubernetes manifests (kubectl kustomize, kubernetes-validate, selectors)"
venv=$(deploy/local/venv.sh)
if ! command -v kubectl >/dev/null; then
  echo "[patron] installing kubectl (it renders the kustomizations)" >&2
  if [ "$(id -u)" -eq 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubectl >/dev/null
  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubectl >/dev/null; fi
fi
"$venv/bin/python" deploy/k8s/check.py --self-test
"$venv/bin/python" deploy/k8s/check.py
echo "== cargo test"
cargo test --workspace --locked
echo "== fault suite (its own PostgreSQL and Redis, faults under load)"
deploy/local/faults.sh
echo "== schemathesis against the gateway"
deploy/local/schemathesis.sh
# The services take the date from the injected clock, so the suite can be run
# at the moments where dates turn: the last minute of a year, the first of the
# next (in the company's zone, Shanghai) and a leap day.
for now in 2026-12-31T23:59:00+08:00 2027-01-01T00:01:00+08:00 2028-02-29T12:00:00+08:00; do
  echo "== cargo test with the clock at $now"
  PATRON_TEST_NOW=$now cargo test --workspace --locked
done
