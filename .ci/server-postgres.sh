#!/usr/bin/env bash
# A throw-away server cluster of Debian's `postgresql` package, reachable the way a production
# benchmark database is: TCP only, TLS only (a self-signed certificate), a role with a password.
#
#   .ci/server-postgres.sh start DIR PORT   initdb + start; prints the maintenance URL on stdout
#   .ci/server-postgres.sh stop DIR         stop it (DIR stays for its log)
#
# The URL (postgresql://benchctl:PASSWORD@127.0.0.1:PORT/postgres?sslmode=require) holds the
# password: the caller keeps it out of its own output.
set -euo pipefail

bindir() {
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -n "$found" ] || { echo "server-postgres: no /usr/lib/postgresql/*/bin: apt-get install postgresql" >&2; exit 1; }
  echo "$found"
}

# PostgreSQL refuses to run as root: as root, the cluster belongs to the `postgres` user.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
  local dir=$1 port=$2 bin password
  bin=$(bindir)
  mkdir -p "$dir"
  [ "$(id -u)" -ne 0 ] || chown postgres: "$dir"
  as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=reject >"$dir/initdb.log"
  as_owner openssl req -new -x509 -days 2 -nodes -subj /CN=127.0.0.1 \
    -keyout "$dir/data/server.key" -out "$dir/data/server.crt" 2>>"$dir/initdb.log"
  chmod 600 "$dir/data/server.key"
  # The socket (trust) only sets the role up; over TCP only TLS with a password gets in.
  printf '%s\n' 'local all postgres trust' \
    'hostssl all all 127.0.0.1/32 scram-sha-256' \
    'hostnossl all all 0.0.0.0/0 reject' >"$dir/data/pg_hba.conf"
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c ssl=on" >/dev/null
  password="$(openssl rand -hex 12)"
  as_owner "$bin/psql" -q -h "$dir" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
    -c "CREATE ROLE benchctl LOGIN CREATEDB PASSWORD '$password'" >/dev/null
  echo "postgresql://benchctl:$password@127.0.0.1:$port/postgres?sslmode=require"
}

stop() {
  as_owner "$(bindir)/pg_ctl" -D "$1/data" -m fast -w stop >/dev/null
}

case "${1:-}" in
  start) start "$2" "$3" ;;
  stop) stop "$2" ;;
  *) echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 2 ;;
esac
