#!/usr/bin/env bash
# A fleet with a large catalog (issue: fleet): how long the leader takes to
# store a PLANS-plan catalog in PostgreSQL, how long a follower takes to start
# ready from it and to follow a new one, and the follower's resident memory
# meanwhile (peak sampled every 10 ms) while it keeps answering /plans.
# Needs PostgreSQL: run it through scripts/with-postgres.sh.
#
#   scripts/with-postgres.sh scripts/fleet-load.sh      # PLANS=100000
set -euo pipefail
cd "$(dirname "$0")/.."
: "${TEST_DATABASE_URL:?run through scripts/with-postgres.sh}"

PLANS=${PLANS:-100000}
BIN=${BIN:-target/release/cmg-feed-proxy}
cargo build --quiet --example gen-feed
[ -x "$BIN" ] || cargo build --quiet --release --bin cmg-feed-proxy
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
target/debug/examples/gen-feed "$PLANS" 1 >"$work/feed.json"
target/debug/examples/gen-feed "$PLANS" 2 >"$work/next.json"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
UP=$(free_port); LEADER=$(free_port); FOLLOWER=$(free_port)
(cd "$work" && python3 -m http.server "$UP" --bind 127.0.0.1 >/dev/null 2>&1) &
sleep 0.5
start() { # port
  CMG_API_KEY=sk_bench_0123456789abcdef CMG_FEED_URL="http://127.0.0.1:$UP/feed.json" RATES_URL=none \
    DATABASE_URL="$TEST_DATABASE_URL" ADMIN_TOKEN=fleet-load-admin-token LISTEN_ADDR="127.0.0.1:$1" \
    "$BIN" >"$work/log-$1" 2>&1 &
  echo $!
}
version() { curl -s "http://127.0.0.1:$1/readyz" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("version"))' 2>/dev/null || echo none; }
echo "feed: $PLANS plans, $(du -m "$work/feed.json" | cut -f1) MiB of JSON"

t0=$(date +%s.%N)
start "$LEADER" >/dev/null
until [ "$(version "$LEADER")" = "1" ]; do sleep 0.05; done
until psql "$TEST_DATABASE_URL" -Atc 'SELECT count(*) FROM fleet_catalogs' 2>/dev/null | grep -q '^1$'; do sleep 0.05; done
t1=$(date +%s.%N)
size=$(psql "$TEST_DATABASE_URL" -Atc 'SELECT pg_size_pretty(sum(length(body))::bigint) FROM fleet_catalogs')
echo "leader: ready, synced and the catalog stored in $(python3 -c "print(round($t1-$t0,2))") s (stored body $size)"

python3 - "$BIN" "$FOLLOWER" "$LEADER" "$work" "$UP" <<'PY'
import json, os, subprocess, sys, threading, time, urllib.request
bin_, port, leader, work, up = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
env = dict(os.environ, CMG_API_KEY="sk_bench_0123456789abcdef", CMG_FEED_URL=f"http://127.0.0.1:{up}/down.json",
           RATES_URL="none", DATABASE_URL=os.environ["TEST_DATABASE_URL"], ADMIN_TOKEN="fleet-load-admin-token",
           LISTEN_ADDR=f"127.0.0.1:{port}")
def get(p, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{p}{path}", timeout=5) as r:
        return json.load(r)
started = time.perf_counter()
proc = subprocess.Popen([bin_], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
peak = [0]; stop = threading.Event()
def rss():
    try:
        for line in open(f"/proc/{proc.pid}/status"):
            if line.startswith("VmRSS"):
                return int(line.split()[1]) // 1024
    except OSError:
        return 0
    return 0
def sample():
    while not stop.is_set():
        peak[0] = max(peak[0], rss()); time.sleep(0.01)
threading.Thread(target=sample, daemon=True).start()
while True:
    try:
        if get(port, "/readyz").get("version") == 1:
            break
    except Exception:
        pass
    time.sleep(0.02)
print(f"follower (upstream unreachable for it): ready from the database in {time.perf_counter() - started:.2f} s, "
      f"peak resident {peak[0]} MiB, at rest {rss()} MiB")
# A new catalog: the leader syncs it, the follower follows while serving.
os.replace(f"{work}/next.json", f"{work}/feed.json")
peak[0] = rss()
latencies = []
done = threading.Event()
def load():
    while not done.is_set():
        t = time.perf_counter()
        get(port, "/plans?country=DE&limit=20")
        latencies.append((time.perf_counter() - t) * 1000)
threading.Thread(target=load, daemon=True).start()
asked = time.perf_counter()
req = urllib.request.Request(f"http://127.0.0.1:{leader}/admin/refresh", method="POST",
                             headers={"Authorization": "Bearer fleet-load-admin-token"})
urllib.request.urlopen(req, timeout=120).read()
synced = time.perf_counter()
while get(port, "/readyz").get("version") != 2:
    time.sleep(0.01)
followed = time.perf_counter()
time.sleep(0.5); done.set(); stop.set()
latencies.sort()
p99 = latencies[int(len(latencies) * 0.99) - 1] if latencies else 0
print(f"new catalog: leader synced and stored it in {synced - asked:.2f} s; the follower served it "
      f"{followed - synced:.2f} s later; follower peak resident {peak[0]} MiB; its /plans meanwhile: "
      f"{len(latencies)} requests, p50 {latencies[len(latencies)//2]:.1f} ms, p99 {p99:.1f} ms")
proc.terminate()
PY
