#!/usr/bin/env bash
# /changes.atom read by a real feed parser (PyPI feedparser, pinned in
# tests/feed/requirements.txt, installed in a venv) on the demo catalog, whose
# history holds two versions. Prints "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

venv_with .venv-ci/feed tests/feed/requirements.txt
port=$(free_port)
start_demo "$port"
.venv-ci/feed/bin/python tests/feed/check_atom.py "http://127.0.0.1:$port"
