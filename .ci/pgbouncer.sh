#!/usr/bin/env bash
# Starts PgBouncer in transaction pooling mode on 127.0.0.1:6432 in front of the PostgreSQL
# server on 127.0.0.1:5432, for the tests that run through it (PGBOUNCER_URL). Idempotent: when
# the bouncer it started before still answers on 6432, it rewrites the configuration and makes
# that bouncer reload it (SIGHUP). Installs pgbouncer when it is missing.
#
# Any role the tests create can log in: PgBouncer 1.18 only admits users it can find, so an
# `auth_user` (postgres, listed in the auth_file) looks every other login up with `auth_query`;
# `auth_type = trust` then admits it without a password, as the server itself does.
set -euo pipefail

DIR="${PGBOUNCER_DIR:-/tmp/pg-tenants-pgbouncer}"
PORT=6432

if ! command -v pgbouncer >/dev/null 2>&1 && [ ! -x /usr/sbin/pgbouncer ]; then
  echo "PgBouncer: installing"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null
fi
PGBOUNCER="$(command -v pgbouncer || echo /usr/sbin/pgbouncer)"

mkdir -p "$DIR"
cat >"$DIR/userlist.txt" <<'EOF'
"postgres" ""
EOF
cat >"$DIR/pgbouncer.ini" <<EOF
[databases]
; one server connection only, so that consecutive clients certainly share it (test/pgbouncer.test.ts)
leakcheck = host=127.0.0.1 port=5432 dbname=test pool_size=1
; its own name, so that the test that drops connections (admin console: KILL faults) drops only its own
faults = host=127.0.0.1 port=5432 dbname=test
* = host=127.0.0.1 port=5432

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PORT
unix_socket_dir =
pool_mode = transaction
auth_type = trust
auth_file = $DIR/userlist.txt
auth_user = postgres
; the admin console (database "pgbouncer"), for KILL and RESUME in test/pgbouncer.test.ts
admin_users = postgres
default_pool_size = 2
max_client_conn = 200
ignore_startup_parameters = extra_float_digits,options
query_wait_timeout = 60
; test roles come and go: do not keep their idle server connections around for long
server_idle_timeout = 10
logfile = $DIR/pgbouncer.log
pidfile = $DIR/pgbouncer.pid
EOF

if pg_isready -h 127.0.0.1 -p "$PORT" -q; then
  if [ -f "$DIR/pgbouncer.pid" ] && kill -HUP "$(cat "$DIR/pgbouncer.pid")" 2>/dev/null; then
    sleep 0.5
    echo "PgBouncer: already answering on $PORT; configuration reloaded"
  else
    echo "PgBouncer: something else answers on $PORT; its configuration may lack what the tests need" >&2
  fi
  exit 0
fi

# A pid file left by a bouncer that is no longer answering would stop -d from starting.
if [ -f "$DIR/pgbouncer.pid" ] && ! kill -0 "$(cat "$DIR/pgbouncer.pid")" 2>/dev/null; then
  rm -f "$DIR/pgbouncer.pid"
fi

# PgBouncer refuses to run as root.
if [ "$(id -u)" = 0 ]; then
  chown -R postgres "$DIR"
  su postgres -s /bin/sh -c "'$PGBOUNCER' -d '$DIR/pgbouncer.ini'"
else
  "$PGBOUNCER" -d "$DIR/pgbouncer.ini"
fi

for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p "$PORT" -q && break; sleep 0.5; done
if ! pg_isready -h 127.0.0.1 -p "$PORT"; then
  echo "PgBouncer did not start; its log:" >&2
  cat "$DIR/pgbouncer.log" >&2 || true
  exit 1
fi
echo "PgBouncer: transaction pooling on 127.0.0.1:$PORT (log: $DIR/pgbouncer.log)"
