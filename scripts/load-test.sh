#!/usr/bin/env bash
# HTTP load test, core for core: cmg-feed-proxy (one worker thread) and nginx
# (one worker) pinned to the same core, wrk pinned to another, every workload
# both as a bare client (no Accept-Encoding) and as a browser
# (Accept-Encoding: gzip, deflate, br, zstd). nginx ceilings:
#   identity        static file with sendfile (the same bytes the proxy serves)
#   browser cached  gzip_static on the precompressed bytes
#   browser unique  gzip on, gzip_comp_level 1, compressing the file per request
# Then the 100k-plan sync: fetch-to-swap time, memory, latency while syncing.
#
#   scripts/load-test.sh     # PLANS=5000 DURATION=10s CONNS=32 RUNS=3 BIG_PLANS=100000 (0 skips)
#   BASELINE=/path/to/older/cmg-feed-proxy scripts/load-test.sh
#                            # also runs an older build on the same core, in the same runs
#                            # (before/after of a change: build the old commit in a worktree)
#
# Needs wrk, nginx, python3, curl and taskset (Debian: wrk nginx python3 curl util-linux).
set -euo pipefail
cd "$(dirname "$0")/.."

PLANS=${PLANS:-5000}
BIG_PLANS=${BIG_PLANS:-100000}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-32}
RUNS=${RUNS:-3}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
BROWSER="gzip, deflate, br, zstd"
for tool in wrk nginx python3 curl taskset; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install wrk nginx python3 curl util-linux)"; exit 1; }
done

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]:-}"; do kill "$pid" 2>/dev/null || true; done
  for conf in "$work"/nginx-*.pid; do [ -f "$conf" ] && kill "$(cat "$conf")" 2>/dev/null || true; done
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
[ "$BIG_PLANS" -gt 0 ] && target/release/examples/gen-feed "$BIG_PLANS" > "$work/upstream/big.json"
cp "$work/upstream/feed.json" "$work/upstream/current.json"

UP=$(port); PX=$(port)
python3 -m http.server "$UP" --bind 127.0.0.1 --directory "$work/upstream" >/dev/null 2>&1 & pids+=($!)
wait_http "http://127.0.0.1:$UP/feed.json"

CMG_API_KEY=bench CMG_FEED_URL="http://127.0.0.1:$UP/current.json" LISTEN_ADDR="127.0.0.1:$PX" RATES_URL=none \
  ADMIN_TOKEN=load-test-admin-token RUST_LOG=warn TOKIO_WORKER_THREADS=1 \
  taskset -c "$SERVER_CPU" "$BIN" & PROXY_PID=$!; pids+=($PROXY_PID)
wait_http "http://127.0.0.1:$PX/readyz"
if [ -n "${BASELINE:-}" ]; then
  PB=$(port)
  CMG_API_KEY=bench CMG_FEED_URL="http://127.0.0.1:$UP/current.json" LISTEN_ADDR="127.0.0.1:$PB" RATES_URL=none \
    RUST_LOG=warn TOKIO_WORKER_THREADS=1 taskset -c "$SERVER_CPU" "$BASELINE" & pids+=($!)
  wait_http "http://127.0.0.1:$PB/readyz"
fi

QUERY="/plans?country=DE&min_gb=5&limit=50"
curl -fs "http://127.0.0.1:$PX$QUERY" > "$work/static/plans.json"
gzip -1 -k -c "$work/static/plans.json" > "$work/static/plans.json.gz"
# The mixed and never-repeating workloads ask nginx for the same file under
# other paths; it serves plans.json for every path.
nginx_conf() { # name port extra-directives
  cat > "$work/nginx-$1.conf" <<NGINX
worker_processes 1;
pid $work/nginx-$1.pid;
error_log $work/nginx-$1-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_body_temp_path $work; proxy_temp_path $work; fastcgi_temp_path $work; uwsgi_temp_path $work; scgi_temp_path $work;
  server { listen 127.0.0.1:$2; root $work/static; default_type application/json; $3
           location / { try_files /plans.json =404; } }
}
NGINX
  taskset -c "$SERVER_CPU" nginx -c "$work/nginx-$1.conf"
  wait_http "http://127.0.0.1:$2/"
}
NG_STATIC=$(port); NG_GZSTATIC=$(port); NG_GZIP1=$(port)
nginx_conf static "$NG_STATIC" ""
nginx_conf gzstatic "$NG_GZSTATIC" "gzip_static on; gzip_vary on;"
nginx_conf gzip1 "$NG_GZIP1" "gzip on; gzip_comp_level 1; gzip_types application/json; gzip_min_length 1000; gzip_vary on;"

# rps and p99 (ms) of one wrk run; extra args are passed to wrk.
bench() {
  local out; out=$(taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"$DURATION" --latency "$@")
  local rps p99 errors
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}')
  errors=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')
  echo "$rps $p99 ${errors:-none}"
}

# workload-name | proxy wrk args | nginx wrk args
WORKLOADS=(
  "identity, single cached query|http://127.0.0.1:$PX$QUERY|http://127.0.0.1:$NG_STATIC/plans.json"
  "identity, mixed ~250 queries|-s scripts/mixed.lua http://127.0.0.1:$PX|-s scripts/mixed.lua http://127.0.0.1:$NG_STATIC"
  "identity, never-repeating queries|-s scripts/unique.lua http://127.0.0.1:$PX|-s scripts/unique.lua http://127.0.0.1:$NG_STATIC"
  "browser, single cached query|-H 'Accept-Encoding: $BROWSER' http://127.0.0.1:$PX$QUERY|-H 'Accept-Encoding: $BROWSER' http://127.0.0.1:$NG_GZSTATIC/plans.json"
  "browser, mixed ~250 queries|-H 'Accept-Encoding: $BROWSER' -s scripts/mixed.lua http://127.0.0.1:$PX|-H 'Accept-Encoding: $BROWSER' -s scripts/mixed.lua http://127.0.0.1:$NG_GZSTATIC"
  "browser, never-repeating queries|-H 'Accept-Encoding: $BROWSER' -s scripts/unique.lua http://127.0.0.1:$PX|-H 'Accept-Encoding: $BROWSER' -s scripts/unique.lua http://127.0.0.1:$NG_GZIP1"
)

echo "==> $PLANS plans; proxy (1 worker thread) and nginx (1 worker) on cpu $SERVER_CPU, wrk -t1 -c$CONNS -d$DURATION on cpu $CLIENT_CPU; $(nproc) cores, $(uname -m); $RUNS runs"
echo "    nginx: identity = static+sendfile; browser cached = gzip_static; browser never-repeating = gzip on, level 1"
results="$work/results.txt"; : > "$results"
for run in $(seq 1 "$RUNS"); do
  for w in "${WORKLOADS[@]}"; do
    IFS='|' read -r name proxy_args nginx_args <<<"$w"
    read -r p_rps p_p99 p_err <<<"$(eval bench "$proxy_args")"
    read -r n_rps n_p99 _ <<<"$(eval bench "$nginx_args")"
    b_rps=0
    if [ -n "${BASELINE:-}" ]; then
      read -r b_rps _ _ <<<"$(eval bench "${proxy_args//:$PX/:$PB}")"
    fi
    echo "$run|$name|$p_rps|$p_p99|$n_rps|$n_p99|$p_err|$b_rps" >> "$results"
    printf 'run %d  %-36s proxy %9s req/s p99 %6s ms   nginx %9s req/s p99 %6s ms   x%s  errors: %s%s\n' \
      "$run" "$name" "$p_rps" "$p_p99" "$n_rps" "$n_p99" "$(python3 -c "print(f'{$p_rps/$n_rps:.2f}')")" "$p_err" \
      "$([ -n "${BASELINE:-}" ] && python3 -c "print(f'   baseline {$b_rps:.0f} req/s, x{$p_rps/$b_rps:.2f} of it')")"
  done
done
echo
echo "==> summary over $RUNS runs (ratio = proxy req/s / nginx req/s in the same run)"
python3 - "$results" <<'PY'
import sys, collections
rows = collections.OrderedDict()
for line in open(sys.argv[1]):
    run, name, p, pp99, n, np99, _, b = line.rstrip("\n").split("|")
    rows.setdefault(name, []).append((float(p), float(pp99), float(n), float(np99), float(b)))
baseline = any(r[4] for runs in rows.values() for r in runs)
print(f"{'workload':36} {'proxy req/s':>22} {'proxy p99 ms':>14} {'nginx req/s':>22} {'ratio':>12}" + (f" {'x baseline':>12}" if baseline else ""))
for name, runs in rows.items():
    p = [r[0] for r in runs]; n = [r[2] for r in runs]; q = [r[0] / r[2] for r in runs]; l = [r[1] for r in runs]
    rng = lambda xs, f: f"{f(min(xs))}-{f(max(xs))}"
    line = f"{name:36} {rng(p, lambda v: f'{v:,.0f}'):>22} {rng(l, lambda v: f'{v:.2f}'):>14} {rng(n, lambda v: f'{v:,.0f}'):>22} {rng(q, lambda v: f'{v:.2f}'):>12}"
    if baseline:
        line += f" {rng([r[0] / r[4] for r in runs], lambda v: f'{v:.2f}'):>12}"
    print(line)
PY
echo "page compressions: $(curl -fs "http://127.0.0.1:$PX/metrics" | awk '/^cmg_page_compressions_total/ {printf "%s ", $0}')"

[ "$BIG_PLANS" -gt 0 ] || exit 0
echo
echo "==> $BIG_PLANS-plan feed ($(du -h "$work/upstream/big.json" | cut -f1))"
FRESH=$(port)
CMG_API_KEY=bench CMG_FEED_URL="http://127.0.0.1:$UP/big.json" LISTEN_ADDR="127.0.0.1:$FRESH" RATES_URL=none RUST_LOG=warn "$BIN" & FRESH_PID=$!; pids+=($FRESH_PID)
start=$(date +%s.%N)
wait_http "http://127.0.0.1:$FRESH/readyz"
end=$(date +%s.%N)
fresh_kb=$(awk '/VmRSS/ {print $2}' "/proc/$FRESH_PID/status")
peak_kb=$(awk '/VmHWM/ {print $2}' "/proc/$FRESH_PID/status")
big_kb=$(( $(stat -c %s "$work/upstream/big.json") / 1024 ))
ratio() { python3 -c "print(f'{float($1)/float($2):.2f}')"; }
echo "fresh instance: ready in $(python3 -c "print(f'{$end-$start:.2f}')") s; resident $((fresh_kb / 1024)) MiB = $(ratio "$fresh_kb" "$big_kb") x the feed's JSON size (peak $((peak_kb / 1024)) MiB)"
kill "$FRESH_PID"
echo "==> the load-tested instance switches to the $BIG_PLANS-plan feed"
cp "$work/upstream/big.json" "$work/upstream/current.json"
start=$(date +%s.%N)
curl -fs -X POST -H "Authorization: Bearer load-test-admin-token" "http://127.0.0.1:$PX/admin/refresh" > "$work/report.json"
end=$(date +%s.%N)
echo "fetch-to-swap (admin refresh round trip): $(python3 -c "print(f'{$end-$start:.2f}')") s; report: $(cat "$work/report.json")"
rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$PROXY_PID/status")
echo "resident memory after swap: $((rss_kb / 1024)) MiB = $(ratio "$rss_kb" "$big_kb") x the feed's JSON size"
( end_at=$(( $(date +%s) + ${DURATION%s} )); while [ "$(date +%s)" -lt "$end_at" ]; do
    curl -fs -X POST -H "Authorization: Bearer load-test-admin-token" "http://127.0.0.1:$PX/admin/refresh" >/dev/null || true
  done ) & SYNCER=$!
read -r BIG_RPS BIG_P99 BIG_ERR <<<"$(bench -H "Accept-Encoding: $BROWSER" -s scripts/mixed.lua "http://127.0.0.1:$PX")"
wait $SYNCER || true
echo "browser mixed load during back-to-back $BIG_PLANS-plan syncs: $BIG_RPS req/s, p99 $BIG_P99 ms, errors: $BIG_ERR"
