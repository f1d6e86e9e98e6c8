#!/usr/bin/env bash
# schemathesis (a fuzzer driven by /openapi.json; pinned in
# tests/schemathesis/requirements.txt, installed in a venv) against the demo
# catalog with ADMIN_TOKEN set, so every documented operation is exercised:
# every check except ignored_auth, bounded examples and time. Settings that
# JSON Schema cannot express are in schemathesis.toml, with the reasons.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv-ci/schemathesis
if [ ! -x "$venv/bin/st" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q --disable-pip-version-check -r tests/schemathesis/requirements.txt

cargo build --locked -q
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
LISTEN_ADDR=127.0.0.1:$port DEMO=1 ADMIN_TOKEN="st-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')" \
    target/debug/cmg-feed-proxy >/tmp/schemathesis-server.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done
set +e
timeout 600 "$venv/bin/st" run "http://127.0.0.1:$port/openapi.json" \
    --checks all --exclude-checks ignored_auth \
    --max-examples 50 --seed 20261202 --no-color
status=$?
set -e
if [ "$status" -eq 0 ]; then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed"; fi
exit "$status"
