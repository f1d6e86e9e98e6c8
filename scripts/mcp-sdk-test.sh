#!/usr/bin/env bash
# The MCP server checked by the official Python MCP SDK (PyPI `mcp`, pinned in
# tests/mcp_client/requirements.txt, installed in a venv) against the demo
# catalog. Uses the dev binary `cargo build` made.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv-ci/mcp
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q -r tests/mcp_client/requirements.txt

cargo build --locked -q
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
LISTEN_ADDR=127.0.0.1:$port DEMO=1 target/debug/cmg-feed-proxy >/tmp/mcp-sdk-server.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done
"$venv/bin/python" tests/mcp_client/check_mcp.py "http://127.0.0.1:$port"
