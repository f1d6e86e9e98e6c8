#!/usr/bin/env bash
# Click benchmarks (SPEC section 10), release build, core for core:
#   1. /go redirects vs a cached /plans page: the proxy (one worker thread)
#      pinned to one core, wrk to another; requests per second and p99.
#   2. Click reports over 1,000,000 stored clicks spread over 400 days
#      (SQLite file): the time of each report, several runs.
#   3. /plans p99 alone, and while click reports run back to back.
#
#   scripts/click-bench.sh     # CLICKS=1000000 DURATION=10s CONNS=32 RUNS=3
#
# Needs wrk, python3, curl and taskset (Debian: wrk python3 curl util-linux).
set -euo pipefail
cd "$(dirname "$0")/.."

CLICKS=${CLICKS:-1000000}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-32}
RUNS=${RUNS:-3}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
for tool in wrk python3 curl taskset; do
  command -v "$tool" >/dev/null || { echo "missing $tool"; exit 1; }
done

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]:-}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1 300); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "timeout waiting for $1"; exit 1; }

echo "==> building (release)"
cargo build --release --quiet --bin cmg-feed-proxy --example gen-feed
BIN=target/release/cmg-feed-proxy
mkdir -p "$work/upstream"
target/release/examples/gen-feed 5000 > "$work/upstream/feed.json"
UP=$(port); PX=$(port)
python3 -m http.server "$UP" --bind 127.0.0.1 --directory "$work/upstream" >/dev/null 2>&1 & pids+=($!)
wait_http "http://127.0.0.1:$UP/feed.json"

TOKEN=click-bench-admin-token
CMG_API_KEY=bench CMG_FEED_URL="http://127.0.0.1:$UP/feed.json" LISTEN_ADDR="127.0.0.1:$PX" \
  ADMIN_TOKEN=$TOKEN DATABASE_URL="sqlite:$work/clicks.db" RUST_LOG=warn TOKIO_WORKER_THREADS=1 \
  taskset -c "$SERVER_CPU" "$BIN" & pids+=($!)
wait_http "http://127.0.0.1:$PX/readyz"
BASE="http://127.0.0.1:$PX"
CODE=$(curl -fs "$BASE/plans?limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["plans"][0]["packageCode"])')
PLANS="/plans?country=DE&min_gb=5&limit=50"

wrk_run() { # path [header] -> "rps p99"
  local out
  if [ -n "${2:-}" ]; then
    out=$(taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"$DURATION" --latency -H "$2" "$BASE$1")
  else
    out=$(taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"$DURATION" --latency "$BASE$1")
  fi
  local rps p99
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  echo "$rps $p99"
}

metric() { curl -fs "$BASE/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
# Waits until the flusher has written every click (the writes share the core).
drain() { for _ in $(seq 1 1200); do [ "$(metric cmg_click_buffer_depth)" = "0" ] && return; sleep 0.1; done; echo "buffer not drained"; }

echo "==> 1. /go vs cached /plans, $RUNS runs of $DURATION, $CONNS connections, one core each"
curl -fs -o /dev/null "$BASE$PLANS"
for run in $(seq 1 "$RUNS"); do
  read -r plans_rps plans_p99 < <(wrk_run "$PLANS")
  read -r go_rps go_p99 < <(wrk_run "/go/$CODE?ref=bench&subid=load" "User-Agent: Mozilla/5.0 bench")
  start=$(date +%s.%N); drain; drained=$(python3 -c "print(f'{$(date +%s.%N) - $start:.1f}')")
  ratio=$(python3 -c "print(f'{$go_rps/$plans_rps:.2f}')")
  echo "run $run: /plans $plans_rps req/s (p99 $plans_p99), /go $go_rps req/s (p99 $go_p99), ratio $ratio; buffer written $drained s after the run"
done
echo "clicks stored $(curl -fs -H "Authorization: Bearer $TOKEN" "$BASE/admin/clicks?bots=true" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"]["clicks"])'), dropped $(metric cmg_clicks_dropped_total)"

echo "==> 2. seeding $CLICKS clicks over 400 days"
sleep 1
python3 - "$work/clicks.db" "$CLICKS" <<'EOF'
import random, sqlite3, sys, time, uuid
db, n = sys.argv[1], int(sys.argv[2])
conn = sqlite3.connect(db, timeout=30)
today = int(time.time() // 86400)
random.seed(7)
countries = ["DE", "FR", "IT", "ES", "US", "JP", "GB", "NL"]
rows, crow = [], []
for i in range(n):
    day = today - random.randrange(400)
    at = day * 86400000 + random.randrange(86400000)
    cid = str(uuid.UUID(int=random.getrandbits(128)))
    partner = f"p{random.randrange(20)}"
    cs = random.sample(countries, random.choice([1, 1, 1, 2, 3]))
    visitor = f"{random.randrange(n // 2):016x}"
    bot = 1 if random.random() < 0.05 else 0
    rows.append((cid, at, day, partner, partner + "-ref", f"PLAN-{random.randrange(5000)}", ",".join(cs),
                 random.choice(["home", "sidebar", "blog", None]), None, None, None, None,
                 random.choice(["news", "ads", None]), None, random.choice(["spring", "summer", None]),
                 visitor, bot, 0))
    crow.extend((cid, day, partner, c, visitor, 1 - bot) for c in cs)
conn.executemany("INSERT INTO clicks VALUES (" + ",".join("?" * 18) + ")", rows)
conn.executemany("INSERT INTO click_countries VALUES (?,?,?,?,?,?)", crow)
conn.commit()
print(f"{n} clicks, {len(crow)} country rows")
EOF
FROM=$(python3 -c 'import datetime; print((datetime.datetime.now(datetime.timezone.utc).date() - datetime.timedelta(days=399)).isoformat())')
for q in "group_by=day" "group_by=packageCode" "group_by=country" "group_by=subid" "group_by=partner" "partner=p3&group_by=day"; do
  times=()
  for _ in $(seq 1 "$RUNS"); do
    times+=("$(curl -fs -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $TOKEN" "$BASE/admin/clicks?from=$FROM&$q")")
  done
  echo "report $q over 400 days: ${times[*]} s"
done

echo "==> 3. /plans p99 alone and while reports run back to back"
read -r _ alone < <(wrk_run "$PLANS")
( while true; do curl -fs -o /dev/null -H "Authorization: Bearer $TOKEN" "$BASE/admin/clicks?from=$FROM&group_by=country"; done ) & pids+=($!)
sleep 1
read -r _ busy < <(wrk_run "$PLANS")
echo "/plans p99 alone $alone, during reports $busy"
