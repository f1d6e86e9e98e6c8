#!/usr/bin/env bash
# Slow readers of large bodies (issue: hardening round three, item 3): N
# clients ask for the whole-catalog mirror of a large catalog, each with its
# own ref, and never read. Prints resident memory before, at the peak while
# they hang, and after they are gone, plus other clients' /plans latency
# meanwhile. Loopback only; bounded in time; stops by itself.
#
#   scripts/slow-readers.sh            # PLANS=100000 READERS=120 HOLD=8
#   BIN=target/release/cmg-feed-proxy scripts/slow-readers.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PLANS=${PLANS:-100000}
READERS=${READERS:-120}
HOLD=${HOLD:-8}
BIN=${BIN:-target/debug/cmg-feed-proxy}

cargo build --quiet --bin cmg-feed-proxy --example gen-feed
[ -x "$BIN" ] || cargo build --quiet --release --bin cmg-feed-proxy
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
target/debug/examples/gen-feed "$PLANS" >"$work/feed.json"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
UP=$(free_port)
APP=$(free_port)
(cd "$work" && python3 -m http.server "$UP" --bind 127.0.0.1 >/dev/null 2>&1) &
sleep 0.5
CMG_API_KEY=sk_bench_0123456789abcdef CMG_FEED_URL="http://127.0.0.1:$UP/feed.json" LISTEN_ADDR="127.0.0.1:$APP" \
  "$BIN" >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 600); do
  curl -sf "http://127.0.0.1:$APP/readyz" >/dev/null && break
  sleep 0.1
done
rss() { awk '/VmRSS/ {print int($2/1024)}' "/proc/$pid/status"; }
echo "feed: $PLANS plans, $(du -m "$work/feed.json" | cut -f1) MiB of JSON"
echo "resident before: $(rss) MiB; /readyz: $(curl -s "http://127.0.0.1:$APP/readyz")"
python3 - "$APP" "$READERS" "$HOLD" "$pid" <<'EOF'
import socket, sys, time, statistics, urllib.request
port, readers, hold, pid = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) // 1024
def latencies(n=40):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        urllib.request.urlopen(f"http://127.0.0.1:{port}/plans?country=DE&limit=20").read()
        out.append((time.perf_counter() - t) * 1000)
    out.sort()
    return out[len(out) // 2], out[int(len(out) * 0.99) - 1]
base = latencies()
socks = []
for i in range(readers):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.sendall(f"GET /api/products/aggregator?ref=r{i} HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip, deflate, br, zstd\r\n\r\n".encode())
    socks.append(s)
peak, end = 0, time.time() + hold
during = None
while time.time() < end:
    peak = max(peak, rss())
    if during is None:
        during = latencies()
    time.sleep(0.1)
for s in socks:
    s.close()
time.sleep(2)
print(f"{readers} readers that never read: peak resident {peak} MiB; after they left {rss()} MiB")
print(f"/plans latency p50/p99: {base[0]:.2f}/{base[1]:.2f} ms alone, {during[0]:.2f}/{during[1]:.2f} ms with the readers hanging")
EOF
kill "$pid"
