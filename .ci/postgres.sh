#!/usr/bin/env bash
# Start a throwaway PostgreSQL server on 127.0.0.1 for the state tests that run on a database URL.
# Sourced by .ci/run (and usable by hand): exports CONNECTOR_TEST_PG_URL and stops the server on exit.
set -euo pipefail
if ! ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
pg_dir="$(mktemp -d)"
chown postgres "$pg_dir"
pg_port="${CONNECTOR_PG_PORT:-54329}"
su postgres -c "$pg_bin/initdb -D $pg_dir/data -A trust -U postgres" >/dev/null
su postgres -c "$pg_bin/pg_ctl -D $pg_dir/data -l $pg_dir/log -w start \
  -o '-p $pg_port -h 127.0.0.1 -k $pg_dir'" >/dev/null
trap 'su postgres -c "$pg_bin/pg_ctl -D $pg_dir/data -m fast stop" >/dev/null 2>&1 || true' EXIT
export CONNECTOR_TEST_PG_URL="postgresql+psycopg://postgres@127.0.0.1:$pg_port/postgres"
