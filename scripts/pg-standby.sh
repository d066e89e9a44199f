#!/usr/bin/env bash
# A hot standby of the local PostgreSQL, for the read-replica tests (test/store/pg-standby.test.ts).
#
#   scripts/pg-standby.sh prepare            let the primary accept replication connections
#   scripts/pg-standby.sh start DIR PORT     prepare, then base-backup into DIR and run a standby on PORT
#   scripts/pg-standby.sh stop DIR [MODE]    stop that standby (pg_ctl mode, default fast), remove DIR
#
# Every command is idempotent. Run as root (PostgreSQL runs as the `postgres` OS user, which this
# script switches to) or as postgres itself. The primary is PRIMARY_HOST:PRIMARY_PORT
# (default 127.0.0.1:5432), reached as PRIMARY_USER (default postgres) with trust authentication;
# binaries come from PG_BIN (default /usr/lib/postgresql/15/bin). `prepare` only ever adds a
# `host replication` line for 127.0.0.1 to the primary's pg_hba.conf and reloads it: wal_level
# and max_wal_senders need a restart to change, so when they do not allow streaming it stops with
# a message instead of restarting a database other work may be using.
set -euo pipefail

PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
PRIMARY_HOST="${PRIMARY_HOST:-127.0.0.1}"
PRIMARY_PORT="${PRIMARY_PORT:-5432}"
PRIMARY_USER="${PRIMARY_USER:-postgres}"

die() {
  echo "pg-standby: $*" >&2
  exit 1
}

# Runs a command as the postgres OS user (the server refuses to run as root).
as_postgres() {
  if [ "$(id -un)" = postgres ]; then
    "$@"
  elif [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    die "run as root or as the postgres user (now $(id -un))"
  fi
}

primary_sql() {
  "$PG_BIN/psql" -X -At -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U "$PRIMARY_USER" -d postgres -c "$1"
}

prepare() {
  [ -x "$PG_BIN/pg_basebackup" ] || die "no PostgreSQL binaries in $PG_BIN (set PG_BIN)"
  local wal_level senders hba
  wal_level="$(primary_sql "SHOW wal_level")" || die "cannot reach the primary at $PRIMARY_HOST:$PRIMARY_PORT"
  senders="$(primary_sql "SHOW max_wal_senders")"
  [ "$wal_level" != minimal ] || die "primary has wal_level=minimal: set wal_level=replica and restart it"
  [ "$senders" -gt 0 ] || die "primary has max_wal_senders=0: set it (e.g. 10) and restart it"
  hba="$(primary_sql "SHOW hba_file")"
  if ! grep -Eq "^[[:space:]]*host[[:space:]]+replication[[:space:]]+(all|$PRIMARY_USER)[[:space:]]+$PRIMARY_HOST/32[[:space:]]+trust" "$hba"; then
    [ -w "$hba" ] || die "$hba lacks a replication entry and is not writable: add 'host replication all $PRIMARY_HOST/32 trust'"
    printf '\n# Added by Latch scripts/pg-standby.sh: local streaming replication for the standby tests.\nhost replication all %s/32 trust\n' \
      "$PRIMARY_HOST" >>"$hba"
    primary_sql "SELECT pg_reload_conf()" >/dev/null
    echo "pg-standby: added a replication entry to $hba and reloaded the primary" >&2
  fi
}

running() {
  [ -f "$1/postmaster.pid" ] && as_postgres "$PG_BIN/pg_ctl" -D "$1" status >/dev/null 2>&1
}

start() {
  local dir="$1" port="$2"
  [ -n "$dir" ] && [ -n "$port" ] || die "usage: $0 start DIR PORT"
  prepare
  if running "$dir/data"; then
    echo "postgres://$PRIMARY_USER@127.0.0.1:$port/"
    return
  fi
  rm -rf "$dir"
  mkdir -p "$dir"
  chown postgres: "$dir" 2>/dev/null || true
  chmod 700 "$dir"
  # -R writes standby.signal and primary_conninfo; -X stream keeps the backup consistent by itself.
  as_postgres "$PG_BIN/pg_basebackup" -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U "$PRIMARY_USER" \
    -D "$dir/data" -R -X stream -c fast
  # A Debian cluster keeps its configuration in /etc: the copy gets a small one of its own.
  as_postgres tee "$dir/data/postgresql.conf" >/dev/null <<EOF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
hot_standby = on
shared_buffers = 16MB
max_connections = 100
hba_file = '$dir/data/pg_hba.conf'
ident_file = '$dir/data/pg_ident.conf'
EOF
  as_postgres tee "$dir/data/pg_hba.conf" >/dev/null <<EOF
local all all trust
host all all 127.0.0.1/32 trust
EOF
  as_postgres touch "$dir/data/pg_ident.conf"
  as_postgres "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/standby.log" -w -t 60 start >/dev/null ||
    die "the standby did not start: $(tail -n 20 "$dir/standby.log" 2>/dev/null)"
  local recovering
  recovering="$("$PG_BIN/psql" -X -At -h 127.0.0.1 -p "$port" -U "$PRIMARY_USER" -d postgres -c "SELECT pg_is_in_recovery()")"
  [ "$recovering" = t ] || die "the server on port $port is not a standby"
  echo "postgres://$PRIMARY_USER@127.0.0.1:$port/"
}

stop() {
  local dir="$1" mode="${2:-fast}"
  [ -n "$dir" ] || die "usage: $0 stop DIR [fast|immediate]"
  if running "$dir/data"; then
    as_postgres "$PG_BIN/pg_ctl" -D "$dir/data" -m "$mode" -w stop >/dev/null
  fi
  # Only a folder this script made (it holds the base backup), never an arbitrary path.
  if [ -f "$dir/data/standby.signal" ]; then rm -rf "$dir"; fi
}

case "${1:-}" in
prepare) prepare ;;
start) start "${2:-}" "${3:-}" ;;
stop) stop "${2:-}" "${3:-}" ;;
*) die "usage: $0 prepare | start DIR PORT | stop DIR [fast|immediate]" ;;
esac
