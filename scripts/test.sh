#!/usr/bin/env bash
# Runs kiln's whole test suite, Postgres included.
#
# Uses the Postgres answering on 127.0.0.1:5432 (or KILN_TEST_POSTGRES_URL if
# set). When none answers, it starts a throwaway server from the installed
# PostgreSQL binaries (installing Debian's postgresql package when absent) and
# removes it afterwards. It fails, never skips, when no server can be had.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'test.sh: %s\n' "$*" >&2; }

pg_answers() { # host port
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h "$1" -p "$2" -t 2
  else
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
  fi
}

find_pg_bin() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -Vr); do
    if [ -x "$d/initdb" ]; then echo "$d"; return 0; fi
  done
  if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; return 0; fi
  return 1
}

start_throwaway_pg() {
  local bin
  if ! bin=$(find_pg_bin); then
    log "no PostgreSQL binaries found; installing Debian's postgresql package"
    if [ "$(id -u)" -ne 0 ]; then log "need root to install postgresql"; return 1; fi
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    bin=$(find_pg_bin) || { log "postgresql installed but initdb not found"; return 1; }
  fi
  local port=${KILN_TEST_PG_PORT:-5433}
  PGTMP=$(mktemp -d /tmp/kiln-pg.XXXXXX)
  local runas=()
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown postgres "$PGTMP"
    runas=(runuser -u postgres --)
  fi
  log "starting a throwaway PostgreSQL ($bin) on 127.0.0.1:$port"
  "${runas[@]}" "$bin/initdb" -D "$PGTMP/data" -U postgres -A trust >/dev/null
  "${runas[@]}" "$bin/pg_ctl" -D "$PGTMP/data" -l "$PGTMP/log" -w -t 60 \
    -o "-h 127.0.0.1 -p $port -k $PGTMP -c fsync=off" start >/dev/null
  PGSTOP=("${runas[@]}" "$bin/pg_ctl" -D "$PGTMP/data" -m immediate stop)
  trap 'cleanup' EXIT
  KILN_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
}

cleanup() {
  if [ -n "${PGSTOP+x}" ]; then "${PGSTOP[@]}" >/dev/null 2>&1 || true; fi
  if [ -n "${PGTMP:-}" ]; then rm -rf "$PGTMP"; fi
}

if [ -z "${KILN_TEST_POSTGRES_URL:-}" ]; then
  probe=${KILN_TEST_PG_PROBE_PORT:-5432} # override to force the throwaway server
  if pg_answers 127.0.0.1 "$probe"; then
    KILN_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$probe/postgres?sslmode=disable"
  else
    start_throwaway_pg || { log "FAILED: no Postgres server for the tests"; exit 1; }
  fi
fi
export KILN_TEST_POSTGRES_URL
export CI=${CI:-true} # integration tests fail rather than skip without Postgres
log "Postgres for tests: $KILN_TEST_POSTGRES_URL"

go vet ./...
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then log "gofmt needed: $unformatted"; exit 1; fi
go test -count=1 -timeout 15m ./...
go test -count=1 -race -timeout 10m ./dag/... ./internal/... ./compiler/ ./adapters/ingest/ ./adapters/ingest/pgsource/
