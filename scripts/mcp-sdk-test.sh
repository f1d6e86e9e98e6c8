#!/usr/bin/env bash
# The MCP server checked by the official Python MCP SDK (PyPI `mcp`, pinned in
# tests/mcp_client/requirements.txt, installed in a venv) against the demo
# catalog. Uses the dev binary `cargo build` made.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

venv_with .venv-ci/mcp tests/mcp_client/requirements.txt
port=$(free_port)
start_demo "$port"
.venv-ci/mcp/bin/python tests/mcp_client/check_mcp.py "http://127.0.0.1:$port"
