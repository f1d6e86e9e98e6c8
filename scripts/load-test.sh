#!/usr/bin/env bash
# HTTP load test: cmg-feed-proxy against nginx serving the same response bytes
# as a static file, and against a naive peer (scripts/naive_peer.py).
# Then the 100k-plan sync: fetch-to-swap time, memory, and latency under load
# while syncs run. Everything stays on loopback and stops by itself.
#
#   scripts/load-test.sh            # PLANS=5000 DURATION=10s CONNS=32 BIG_PLANS=100000
#
# Needs wrk, nginx, python3 and curl (Debian: apt-get install wrk nginx-light curl).
set -euo pipefail
cd "$(dirname "$0")/.."

PLANS=${PLANS:-5000}
BIG_PLANS=${BIG_PLANS:-100000}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-32}
for tool in wrk nginx python3 curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install wrk nginx-light python3 curl)"; exit 1; }
done

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]:-}"; do kill "$pid" 2>/dev/null || true; done
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1 300); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "timeout waiting for $1"; exit 1; }

echo "==> building (release)"
cargo build --release --quiet --bin cmg-feed-proxy --example gen-feed
BIN=target/release/cmg-feed-proxy

mkdir -p "$work/upstream" "$work/static"
target/release/examples/gen-feed "$PLANS" > "$work/upstream/feed.json"
target/release/examples/gen-feed "$BIG_PLANS" > "$work/upstream/big.json"
cp "$work/upstream/feed.json" "$work/upstream/current.json"

UP=$(port); PX=$(port); NG=$(port); NV=$(port)
python3 -m http.server "$UP" --bind 127.0.0.1 --directory "$work/upstream" >/dev/null 2>&1 & pids+=($!)
wait_http "http://127.0.0.1:$UP/feed.json"

CMG_API_KEY=bench CMG_FEED_URL="http://127.0.0.1:$UP/current.json" LISTEN_ADDR="127.0.0.1:$PX" \
  ADMIN_TOKEN=load-test-admin-token RUST_LOG=warn "$BIN" & PROXY_PID=$!; pids+=($PROXY_PID)
wait_http "http://127.0.0.1:$PX/readyz"

QUERY="/plans?country=DE&min_gb=5&limit=50"
curl -fs "http://127.0.0.1:$PX$QUERY" > "$work/static/plans.json"
cat > "$work/nginx.conf" <<NGINX
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  client_body_temp_path $work; proxy_temp_path $work; fastcgi_temp_path $work; uwsgi_temp_path $work; scgi_temp_path $work;
  server { listen 127.0.0.1:$NG; root $work/static; default_type application/json; }
}
NGINX
nginx -c "$work/nginx.conf"
wait_http "http://127.0.0.1:$NG/plans.json"
python3 scripts/naive_peer.py "http://127.0.0.1:$UP/feed.json" "$NV" & pids+=($!)
wait_http "http://127.0.0.1:$NV$QUERY"

# rps and p99 (ms) of one wrk run.
bench() {
  local out; out=$(wrk -t1 -c"$CONNS" -d"$DURATION" --latency "$@")
  local rps p99 errors
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}')
  errors=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')
  echo "$rps $p99 ${errors:-none}"
}
ratio() { python3 -c "print(f'{float($1)/float($2):.2f}')"; }

echo "==> $PLANS plans, wrk -t1 -c$CONNS -d$DURATION, $(nproc) cores, $(uname -m)"
read -r NGINX_RPS NGINX_P99 _ <<<"$(bench "http://127.0.0.1:$NG/plans.json")"
read -r PX_RPS PX_P99 PX_ERR <<<"$(bench "http://127.0.0.1:$PX$QUERY")"
read -r MIX_RPS MIX_P99 MIX_ERR <<<"$(bench -s scripts/mixed.lua "http://127.0.0.1:$PX")"
read -r UNQ_RPS UNQ_P99 UNQ_ERR <<<"$(bench -s scripts/unique.lua "http://127.0.0.1:$PX")"
read -r NV_RPS NV_P99 _ <<<"$(bench "http://127.0.0.1:$NV$QUERY")"

printf '%-44s %10s %9s %8s %8s\n' "workload" "req/s" "p99 ms" "x nginx" "x naive"
printf '%-44s %10s %9s %8s %8s\n' "nginx static file (same bytes)" "$NGINX_RPS" "$NGINX_P99" "1.00" "$(ratio "$NGINX_RPS" "$NV_RPS")"
printf '%-44s %10s %9s %8s %8s\n' "proxy $QUERY" "$PX_RPS" "$PX_P99" "$(ratio "$PX_RPS" "$NGINX_RPS")" "$(ratio "$PX_RPS" "$NV_RPS")"
printf '%-44s %10s %9s %8s %8s\n' "proxy mixed (~250 queries, refs, /countries)" "$MIX_RPS" "$MIX_P99" "$(ratio "$MIX_RPS" "$NGINX_RPS")" "$(ratio "$MIX_RPS" "$NV_RPS")"
printf '%-44s %10s %9s %8s %8s\n' "proxy never-repeating queries" "$UNQ_RPS" "$UNQ_P99" "$(ratio "$UNQ_RPS" "$NGINX_RPS")" "$(ratio "$UNQ_RPS" "$NV_RPS")"
printf '%-44s %10s %9s %8s %8s\n' "naive peer (filter + encode per request)" "$NV_RPS" "$NV_P99" "$(ratio "$NV_RPS" "$NGINX_RPS")" "1.00"
echo "errors: proxy=$PX_ERR mixed=$MIX_ERR unique=$UNQ_ERR"

echo "==> $BIG_PLANS-plan feed ($(du -h "$work/upstream/big.json" | cut -f1))"
FRESH=$(port)
CMG_API_KEY=bench CMG_FEED_URL="http://127.0.0.1:$UP/big.json" LISTEN_ADDR="127.0.0.1:$FRESH" RUST_LOG=warn "$BIN" & FRESH_PID=$!; pids+=($FRESH_PID)
start=$(date +%s.%N)
wait_http "http://127.0.0.1:$FRESH/readyz"
end=$(date +%s.%N)
fresh_kb=$(awk '/VmRSS/ {print $2}' "/proc/$FRESH_PID/status")
peak_kb=$(awk '/VmHWM/ {print $2}' "/proc/$FRESH_PID/status")
big_kb=$(( $(stat -c %s "$work/upstream/big.json") / 1024 ))
echo "fresh instance: ready in $(python3 -c "print(f'{$end-$start:.2f}')") s; resident $((fresh_kb / 1024)) MiB = $(ratio "$fresh_kb" "$big_kb") x the feed's JSON size (peak $((peak_kb / 1024)) MiB)"
kill "$FRESH_PID"
echo "==> the load-tested instance switches to the $BIG_PLANS-plan feed"
cp "$work/upstream/big.json" "$work/upstream/current.json"
start=$(date +%s.%N)
curl -fs -X POST -H "Authorization: Bearer load-test-admin-token" "http://127.0.0.1:$PX/admin/refresh" > "$work/report.json"
end=$(date +%s.%N)
echo "fetch-to-swap (admin refresh round trip): $(python3 -c "print(f'{$end-$start:.2f}')") s; report: $(cat "$work/report.json")"
rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$PROXY_PID/status")
feed_kb=$(( $(stat -c %s "$work/upstream/big.json") / 1024 ))
echo "resident memory after swap: $((rss_kb / 1024)) MiB = $(ratio "$rss_kb" "$feed_kb") x the feed's JSON size"
# Load for the whole duration while syncs of the big feed run back to back.
( end_at=$(( $(date +%s) + ${DURATION%s} )); while [ "$(date +%s)" -lt "$end_at" ]; do
    curl -fs -X POST -H "Authorization: Bearer load-test-admin-token" "http://127.0.0.1:$PX/admin/refresh" >/dev/null || true
  done ) & SYNCER=$!
read -r BIG_RPS BIG_P99 BIG_ERR <<<"$(bench -s scripts/mixed.lua "http://127.0.0.1:$PX")"
wait $SYNCER || true
echo "mixed load during back-to-back $BIG_PLANS-plan syncs: $BIG_RPS req/s, p99 $BIG_P99 ms, errors: $BIG_ERR"
