#!/usr/bin/env bash
# Markets over HTTP (issue: markets): the same /plans, /countries and /regions
# queries with and without `currency`/`lang`, and `q` in Latin and
# non-Latin scripts, core for core: the proxy (one worker thread) pinned to
# one core, wrk to another, RUNS runs of DURATION each. Prints requests per
# second per run and the ratio to the plain query.
#
#   scripts/markets-bench.sh       # PLANS=5000 DURATION=5s CONNS=32 RUNS=3
set -euo pipefail
cd "$(dirname "$0")/.."

PLANS=${PLANS:-5000}
DURATION=${DURATION:-5s}
CONNS=${CONNS:-32}
RUNS=${RUNS:-3}
BIN=${BIN:-target/release/cmg-feed-proxy}
for tool in wrk python3 curl taskset; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install wrk python3 curl util-linux)"; exit 1; }
done
cargo build --quiet --example gen-feed
[ -x "$BIN" ] || cargo build --quiet --release --bin cmg-feed-proxy
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
target/debug/examples/gen-feed "$PLANS" >"$work/feed.json"
cp assets/demo-rates.xml "$work/rates.xml"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
UP=$(port); APP=$(port)
(cd "$work" && python3 -m http.server "$UP" --bind 127.0.0.1 >/dev/null 2>&1) &
CMG_API_KEY=sk_bench_0123456789abcdef CMG_FEED_URL="http://127.0.0.1:$UP/feed.json" \
  RATES_URL="http://127.0.0.1:$UP/rates.xml" LISTEN_ADDR="127.0.0.1:$APP" RUST_LOG=warn \
  TOKIO_WORKER_THREADS=1 taskset -c 0 "$BIN" >"$work/log" 2>&1 &
for _ in $(seq 300); do curl -fs "http://127.0.0.1:$APP/plans?limit=1&currency=EUR" >/dev/null 2>&1 && break; sleep 0.1; done

rps() {
  taskset -c 1 wrk -t1 -c"$CONNS" -d"$DURATION" "http://127.0.0.1:$APP$1" |
    awk '/Requests\/sec/ {printf "%d", $2}'
}
echo "==> $PLANS plans; proxy on cpu 0 (1 worker thread), wrk -t1 -c$CONNS -d$DURATION on cpu 1; $RUNS runs"
pairs=(
  "/plans?country=DE&limit=50|/plans?country=DE&limit=50&currency=EUR"
  "/plans?limit=50&sort=price_per_gb|/plans?limit=50&sort=price_per_gb&currency=JPY"
  "/countries|/countries?lang=de&currency=EUR"
  "/regions|/regions?lang=ja&currency=JPY"
  "/plans?q=germany&limit=20|/plans?q=%E3%83%89%E3%82%A4%E3%83%84&limit=20"
  "/plans?q=germany&limit=20|/plans?q=deutschland&limit=20"
)
for pair in "${pairs[@]}"; do
  plain=${pair%%|*}; market=${pair#*|}
  a=(); b=()
  for _ in $(seq "$RUNS"); do a+=("$(rps "$plain")"); b+=("$(rps "$market")"); done
  python3 - "$plain" "$market" "${a[*]}" "${b[*]}" <<'PY'
import sys
plain, market, a, b = sys.argv[1], sys.argv[2], list(map(int, sys.argv[3].split())), list(map(int, sys.argv[4].split()))
ratios = [y / x for x, y in zip(a, b)]
print(f"{plain:45s} {' '.join(map(str, a))} rps")
print(f"{market:45s} {' '.join(map(str, b))} rps  ratio {min(ratios):.2f}-{max(ratios):.2f}")
PY
done
