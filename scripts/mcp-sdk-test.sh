#!/usr/bin/env bash
# The MCP server checked by two official SDKs, clients no one here wrote,
# against the demo catalog (the dev binary `cargo build` made):
#   Python      PyPI `mcp`, pinned in tests/mcp_client/requirements.txt (venv)
#   TypeScript  npm `@modelcontextprotocol/sdk`, pinned by
#               tests/mcp_client_ts/package-lock.json
# Each prints "N passed, N failed". Node.js or the npm registry missing is a
# SKIPPED for the TypeScript half, with its reason.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

venv_with .venv-ci/mcp tests/mcp_client/requirements.txt
port=$(free_port)
start_demo "$port"
status=0
.venv-ci/mcp/bin/python tests/mcp_client/check_mcp.py "http://127.0.0.1:$port" || status=1

echo "--> the same server checked by the official TypeScript MCP SDK"
if ! command -v node >/dev/null; then
  echo "SKIPPED: node is not installed"
elif ! (cd tests/mcp_client_ts && npm ci --no-audit --no-fund --loglevel=error); then
  echo "SKIPPED: npm ci failed (registry unreachable?)"
else
  node tests/mcp_client_ts/check_mcp.mjs "http://127.0.0.1:$port" || status=1
fi
exit "$status"
