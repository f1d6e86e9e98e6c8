#!/usr/bin/env bash
# Exports of a large catalog (issue: markets): the resident memory of the
# process while clients download /export/plans.csv and .ndjson of a PLANS-plan
# catalog (with display prices and names in German), one at a time and
# CLIENTS at once, and how long each takes. The body is streamed a chunk at a
# time, so the peak should stay near the resident size at rest. Loopback only.
#
#   scripts/export-memory.sh            # PLANS=100000 CLIENTS=8
#   BIN=target/release/cmg-feed-proxy scripts/export-memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PLANS=${PLANS:-100000}
CLIENTS=${CLIENTS:-8}
BIN=${BIN:-target/release/cmg-feed-proxy}

cargo build --quiet --example gen-feed
[ -x "$BIN" ] || cargo build --quiet --release --bin cmg-feed-proxy
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
target/debug/examples/gen-feed "$PLANS" >"$work/feed.json"
cp assets/demo-rates.xml "$work/rates.xml"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
UP=$(free_port)
APP=$(free_port)
(cd "$work" && python3 -m http.server "$UP" --bind 127.0.0.1 >/dev/null 2>&1) &
sleep 0.5
CMG_API_KEY=sk_bench_0123456789abcdef CMG_FEED_URL="http://127.0.0.1:$UP/feed.json" \
  RATES_URL="http://127.0.0.1:$UP/rates.xml" LISTEN_ADDR="127.0.0.1:$APP" "$BIN" >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 600); do
  curl -sf "http://127.0.0.1:$APP/readyz" >/dev/null && break
  sleep 0.1
done
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$APP/plans?limit=1&currency=EUR" >/dev/null && break
  sleep 0.1
done
echo "feed: $PLANS plans, $(du -m "$work/feed.json" | cut -f1) MiB of JSON"
python3 - "$APP" "$pid" "$CLIENTS" <<'PY'
import sys, threading, time, urllib.request
port, pid, clients = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) // 1024
peak = [0]
stop = threading.Event()
def sample():
    while not stop.is_set():
        peak[0] = max(peak[0], rss())
        time.sleep(0.01)
def download(path, out):
    t = time.perf_counter()
    size = 0
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}") as r:
        while chunk := r.read(1 << 16):
            size += len(chunk)
    out.append((time.perf_counter() - t, size))
print(f"resident at rest: {rss()} MiB")
for path in ["/export/plans.csv?currency=EUR&lang=de", "/export/plans.ndjson?currency=EUR"]:
    for n in [1, clients]:
        peak[0] = rss()
        stop.clear()
        sampler = threading.Thread(target=sample); sampler.start()
        results = []
        threads = [threading.Thread(target=download, args=(path, results)) for _ in range(n)]
        for th in threads: th.start()
        for th in threads: th.join()
        stop.set(); sampler.join()
        secs = max(r[0] for r in results)
        mib = results[0][1] / 1048576
        print(f"{path} x{n}: {mib:.1f} MiB each, slowest {secs:.2f} s, peak resident {peak[0]} MiB")
print(f"resident after: {rss()} MiB")
PY
