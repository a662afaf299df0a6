#!/usr/bin/env bash
# First start: a cluster whose user POSTGRES_USER (default spendwatch) has POSTGRES_PASSWORD
# and owns database POSTGRES_DB (default spendwatch), with password auth over TCP, in UTF-8
# (initdb's default without locales is SQL_ASCII, whose text drivers get back as bytes).
# Then the server, on PGPORT (default 5432).
set -euo pipefail
: "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}"
user=${POSTGRES_USER:-spendwatch}
db=${POSTGRES_DB:-spendwatch}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
  initdb -D "$PGDATA" -U "$user" --encoding=UTF8 --locale=C.UTF-8 --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256
  rm -f "$pwfile"
  printf "listen_addresses = '*'\n" >> "$PGDATA/postgresql.conf"
  printf "host all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\n" \
    >> "$PGDATA/pg_hba.conf"
  pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start
  createdb -U "$user" "$db" 2>/dev/null || true
  pg_ctl -D "$PGDATA" -m fast -w stop
fi
exec postgres -D "$PGDATA"
