#!/usr/bin/env bash
# Runs the curl commands of README.md and docs/api.md verbatim against the demo
# catalog on localhost:8080 (the dev binary stands in for `cargo run --release
# -- --demo`, started with the README's admin token), so a command or an example
# that stops working fails CI. Each must exit 0 and answer JSON that is not an
# error. Prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

cargo build --locked -q || exit 1
export ADMIN_TOKEN=demo-admin-token-change-me
if curl -s -o /dev/null localhost:8080/healthz; then
  echo "SKIPPED: something already listens on localhost:8080"; echo "0 passed, 0 failed"; exit 0
fi
DEMO=1 LISTEN_ADDR=127.0.0.1:8080 target/debug/cmg-feed-proxy >/tmp/readme-test-server.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -fs localhost:8080/readyz >/dev/null 2>&1 && break; sleep 0.1; done

passed=0; failed=0
# Every `curl ...` line of a ```sh block (continuation lines joined), minus
# comments after a `#`, except the ones aimed at YOUR-PROXY or replicas.
commands=$(python3 - README.md docs/api.md <<'PY'
import re, sys
for path in sys.argv[1:]:
    inside = False
    lines = open(path).read().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            inside = line.strip() == "```sh"
        elif inside and line.startswith("curl "):
            cmd = line
            while cmd.endswith("\\") and i + 1 < len(lines):
                i += 1
                cmd = cmd[:-1] + lines[i]
            cmd = re.sub(r"\s+#.*$", "", cmd)
            for part in cmd.split(";"):
                part = part.strip()
                if part.startswith("curl ") and "YOUR-PROXY" not in part and ":808" + "1" not in part and ":808" + "2" not in part:
                    print(part)
        i += 1
PY
)
# What a command printed must be a success: JSON without an error object,
# well-formed XML (the Atom feed), CSV with the export's header and rows,
# JSON lines (NDJSON), or response headers (-i) with a 2xx/3xx status.
check='
import csv, io, json, sys, xml.dom.minidom
text = sys.stdin.read()
if text.startswith("HTTP/"):
    sys.exit(0 if text.split()[1][0] in "23" else 1)
if text.startswith("packageCode,"):
    sys.exit(0 if list(csv.DictReader(io.StringIO(text))) else 1)
lines = text.strip().splitlines()
if len(lines) > 1 and all(l.startswith("{") for l in lines):
    for l in lines:
        json.loads(l)
    sys.exit(0)
if text.lstrip().startswith("<"):
    xml.dom.minidom.parseString(text)
    sys.exit(0)
d = json.loads(text)
sys.exit(1 if isinstance(d, dict) and "error" in d else 0)
'
while IFS= read -r cmd; do
  [ -n "$cmd" ] || continue
  out=$(bash -c "$cmd" 2>/dev/null); status=$?
  if [ $status -eq 0 ] && printf '%s' "$out" | python3 -c "$check"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); echo "FAIL: $cmd"; printf '%s\n' "$out" | head -c 300; echo
  fi
done <<<"$commands"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
