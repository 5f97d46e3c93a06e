#!/usr/bin/env bash
# Runs a command beside a throwaway PostgreSQL cluster: a temporary directory, a free port
# on loopback, trust authentication for the local user `burnlink`. The command finds it
# through the environment:
#   BURNLINK_TEST_POSTGRES_URL   postgres://burnlink@127.0.0.1:PORT/postgres?sslmode=disable
#   BURNLINK_TEST_POSTGRES_CTL   a script taking stop | start | restart (for fault tests)
# The cluster and its directory are removed when the command ends, however it ends.
# fsync is off (tests need no durability) unless WITH_POSTGRES_FSYNC=on (benchmarks).
# max_connections: the Swift suite runs its PostgreSQL tests in parallel. If every one ran at
# once: about 53 test stores (4 connections each, TestPostgres.storeConnections), four
# servers (two replicas in each of two suites, 20 each) and a psql per test: about 340.
# Seen at most: 183 (pg_stat_activity sampled every 0.2 s over a whole run).
# As root (CI), the cluster runs as the `postgres` system user: PostgreSQL refuses root.
set -euo pipefail

pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$pgbin" ] || [ ! -x "$pgbin/initdb" ]; then
  echo "with-postgres: PostgreSQL server binaries not found (apt-get install postgresql)" >&2
  exit 1
fi

dir=$(mktemp -d /tmp/burnlink-pg.XXXXXX)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
if [ "$(id -u)" = 0 ]; then
  owner=postgres
  chown "$owner" "$dir"
  as_owner() { runuser -u "$owner" -- "$@"; }
else
  as_owner() { "$@"; }
fi

cat > "$dir/ctl" <<CTL
#!/usr/bin/env bash
# stop | start | restart the test cluster
set -euo pipefail
case "\$1" in
  stop) mode=(stop -m fast) ;;
  start) mode=(start) ;;
  restart) mode=(restart -m fast) ;;
  *) echo "usage: \$0 stop|start|restart" >&2; exit 2 ;;
esac
$( [ "$(id -u)" = 0 ] && echo "runuser -u $owner -- " )"$pgbin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 "\${mode[@]}" \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=${WITH_POSTGRES_FSYNC:-off} -c max_connections=500" >/dev/null
CTL
chmod 755 "$dir/ctl"

cleanup() {
  "$dir/ctl" stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT

as_owner "$pgbin/initdb" -D "$dir/data" -U burnlink --auth=trust -E UTF8 --no-sync >/dev/null
"$dir/ctl" start

export BURNLINK_TEST_POSTGRES_URL="postgres://burnlink@127.0.0.1:$port/postgres?sslmode=disable"
export BURNLINK_TEST_POSTGRES_CTL="$dir/ctl"
echo "with-postgres: PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port" >&2
"$@"
