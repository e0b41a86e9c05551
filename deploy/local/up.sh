#!/usr/bin/env bash
# One command from a fresh clone to a running suite: PostgreSQL and Redis
# (installed and started when absent), the database, roles and schemas, then
# every service and the gateway in one `patron` process. Arguments go to
# `patron up`: `deploy/local/up.sh --demo --preset retail-store` loads a demo company.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
deploy/local/ensure-datastores.sh
cargo build --release --locked -p patron
target/release/patron provision
exec target/release/patron up "$@"
