#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL server: initdb in a temp dir as an
# unprivileged user, a free port on loopback, TEST_DATABASE_URL exported for
# the command, and everything removed afterwards.
#
#   scripts/with-postgres.sh cargo test
#
# Without PostgreSQL server binaries the command still runs, without
# TEST_DATABASE_URL, so the PostgreSQL tests print SKIPPED with the reason.
set -euo pipefail

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    echo "with-postgres: SKIPPED PostgreSQL: no server binaries (apt-get install postgresql)" >&2
    exec "$@"
fi

run_as=()
if [ "$(id -u)" -eq 0 ]; then
    # initdb refuses to run as root.
    user=postgres
    id "$user" >/dev/null 2>&1 || user=nobody
    run_as=(runuser -u "$user" --)
fi
dir=$(mktemp -d)
chmod 755 "$dir"
[ ${#run_as[@]} -gt 0 ] && chown "${run_as[2]}" "$dir"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
password="pw-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
echo "$password" > "$dir/pwfile"
[ ${#run_as[@]} -gt 0 ] && chown "${run_as[2]}" "$dir/pwfile"

cleanup() {
    "${run_as[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT

"${run_as[@]}" "$bin/initdb" -D "$dir/data" -U cmg --pwfile="$dir/pwfile" -A scram-sha-256 \
    --locale=C.UTF-8 --encoding=UTF8 >/dev/null
"${run_as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=200" start >/dev/null
export TEST_DATABASE_URL="postgres://cmg:$password@127.0.0.1:$port/postgres"
echo "with-postgres: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port" >&2
set +e
"$@"
status=$?
set -e
exit $status
