#!/usr/bin/env bash
# Install (Debian apt, when missing) and start a throw-away local PostgreSQL server for the tests.
# Idempotent: a server already running on the port is reused. Prints only the SQLAlchemy URL on stdout:
#     export CLINICQA_TEST_POSTGRES_URL="$(bash scripts/postgres.sh)"
#     bash scripts/postgres.sh stop        # stops it again
#     bash scripts/postgres.sh status      # exit 0 when it is running, non-zero when not
# Env: CLINICQA_PG_DIR (data folder), CLINICQA_PG_PORT (default 54329), CLINICQA_PG_DB (default clinicqa_test).
set -euo pipefail

PORT="${CLINICQA_PG_PORT:-54329}"
DB="${CLINICQA_PG_DB:-clinicqa_test}"
DIR="${CLINICQA_PG_DIR:-/tmp/clinicqa-pg-$(id -u)}"
log() { echo "postgres.sh: $*" >&2; }

find_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

BIN="$(find_bin)"
if [ "${1:-start}" = "status" ]; then
    [ -n "$BIN" ] && [ -x "$BIN/pg_isready" ] && "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"
    exit
fi
if [ -z "$BIN" ] || [ ! -x "$BIN/initdb" ]; then
    if [ "$(id -u)" != 0 ]; then
        log "PostgreSQL is not installed and this is not root: run 'sudo apt-get install postgresql' first"
        exit 1
    fi
    log "installing PostgreSQL with apt-get (once)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends postgresql >&2
    BIN="$(find_bin)"
fi

# PostgreSQL refuses to run as root: run its programs as the 'postgres' system user then.
if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    as_pg() { runuser -u postgres -- "$@"; }
else
    as_pg() { "$@"; }
fi

if [ "${1:-start}" = "stop" ]; then
    if [ -f "$DIR/postmaster.pid" ]; then
        as_pg "$BIN/pg_ctl" -D "$DIR" -m fast -w stop >&2 || true
    fi
    exit 0
fi

if ! "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
    if [ ! -f "$DIR/PG_VERSION" ]; then
        log "creating a cluster in $DIR"
        mkdir -p "$DIR"
        [ "$(id -u)" = 0 ] && chown postgres:postgres "$DIR"
        chmod 700 "$DIR"
        as_pg "$BIN/initdb" -D "$DIR" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
    fi
    # A stale pid file from a killed server would stop pg_ctl from starting.
    if [ -f "$DIR/postmaster.pid" ] && ! as_pg "$BIN/pg_ctl" -D "$DIR" status >/dev/null 2>&1; then
        rm -f "$DIR/postmaster.pid"
    fi
    log "starting PostgreSQL on 127.0.0.1:$PORT"
    as_pg "$BIN/pg_ctl" -D "$DIR" -l "$DIR/server.log" -w -t 60 \
        -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off" start >&2
fi

for _ in $(seq 1 30); do
    "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" && break
    sleep 1
done

if ! "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1; then
    "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres "$DB"
fi

echo "postgresql+psycopg://postgres@127.0.0.1:$PORT/$DB"
