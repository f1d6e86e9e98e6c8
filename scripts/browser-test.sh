#!/usr/bin/env bash
# Browser tests of the plan finder page and widget (tests/browser): headless
# Debian Chromium driven by Playwright (playwright-core from npm, pinned by
# package-lock.json). Installs what it lacks; needs the debug binary
# (cargo build) and prints node's test summary plus "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."

# Missing infrastructure (no Debian mirror, no npm registry, no node) is a
# SKIPPED with its reason, not a failure of the code under test.
skip() { echo "SKIPPED: $*"; echo "0 passed, 0 failed"; exit 0; }

if ! command -v chromium >/dev/null; then
  echo "installing chromium (Debian package)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/dev/null 2>&1 \
    || skip "cannot install Debian's chromium here"
fi
command -v node >/dev/null || skip "node is not installed"
cargo build --locked --quiet

cd tests/browser
npm ci --no-audit --no-fund --loglevel=error || skip "npm ci failed (registry unreachable?)"
log=$(mktemp)
set +e
npm test 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
awk '/^# pass/ {p=$3} /^# fail/ {f=$3} END {printf "%d passed, %d failed\n", p, f}' "$log"
rm -f "$log"
echo "screenshots: tests/browser/artifacts/"
exit "$status"
