#!/usr/bin/env bash
# schemathesis (a fuzzer driven by /openapi.json; pinned in
# tests/schemathesis/requirements.txt, installed in a venv) against the demo
# catalog with ADMIN_TOKEN set and given, so every documented operation is
# exercised past its auth (and ignored_auth checks that a missing or wrong
# token is refused): every check, bounded examples and time. Settings that
# JSON Schema cannot express are in schemathesis.toml, with the reasons.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

venv_with .venv-ci/schemathesis tests/schemathesis/requirements.txt
port=$(free_port)
token="st-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
start_demo "$port" ADMIN_TOKEN="$token"
set +e
timeout 600 .venv-ci/schemathesis/bin/st run "http://127.0.0.1:$port/openapi.json" \
    --checks all -H "Authorization: Bearer $token" \
    --max-examples 50 --seed 20261202 --no-color
status=$?
set -e
if [ "$status" -eq 0 ]; then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed"; fi
exit "$status"
