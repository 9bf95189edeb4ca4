#!/usr/bin/env bash
# V2 figures, side by side in one run (BENCHMARKS.md, "V2 queries"):
#   1. cache-hit throughput: a V2 POST (body read, parse, canonicalise, lookup) against a
#      v1 GET, alternating wrk runs against one gateway in front of the ceiling upstream;
#   2. user-space instructions per hit for each (callgrind, as bench/instructions.sh);
#   3. alignment: 50 simulated dashboards asking for "the last hour" every 10 s for 2
#      minutes, against two gateways (cache.align_times on, off): upstream queries each;
#   4. body-parse cost: examples/v2_parse (a normal body against 64 KiB hostile ones).
#   bench/v2.sh [SECONDS_PER_WRK_RUN] [DASHBOARD_SECONDS]    (defaults 5 and 120)
#   V2_ROUNDS=N: alternating rounds of part 1 (default 2), and their median ratio
# Everything listens on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
command -v valgrind >/dev/null || apt-get install -y -qq valgrind >/dev/null
cargo build --release --quiet --bin appsignal-gateway --example ceiling --example v2_parse
secs=${1:-5}
dashboard_secs=${2:-120}
bin=target/release/appsignal-gateway
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$dir"' EXIT

write_body "$dir/body.json"
upstream=$(port)
target/release/examples/ceiling "127.0.0.1:$upstream" "$dir/body.json" >/dev/null &
query='{"site_id":"blog","from":1700000000,"to":1700003600,"select":[{"name":"transaction_duration","tags":{"namespace":"web"},"field":"MEAN"},{"name":"transaction_duration","tags":{"namespace":"web"},"field":"P95"}]}'
cat >"$dir/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '$query'
LUA
v2="/api/v2/metrics/timeseries"
v1="/api/blog/samples.json?limit=10"

# start NAME PORT [ENV...]: a gateway on PORT (its admin on PORT+1's free twin) in front of
# the ceiling; waits until it answers.
start() {
  local name=$1 listen=$2; shift 2
  write_config "$dir/$name.yaml" "$listen" "$upstream"
  env "$@" "$bin" --config "$dir/$name.yaml" >"$dir/$name.log" 2>&1 &
  echo $! >"$dir/$name.pid"
  for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$listen/healthz" && return; sleep 0.1; done
  echo "gateway $name did not start" >&2; cat "$dir/$name.log" >&2; exit 1
}
warm() {
  curl -sf -o /dev/null "http://127.0.0.1:$1$v1"
  curl -sf -o /dev/null -H 'content-type: application/json' -d "$query" "http://127.0.0.1:$1$v2"
}
rps() { awk '/Requests\/sec/{print $2}'; }

echo "# 1. cache hits, 1 wrk thread, 64 connections, ${secs} s each, alternating"
listen=$(port)
start hits "$listen"
warm "$listen"
for round in $(seq 1 "${V2_ROUNDS:-2}"); do
  get=$(wrk -t1 -c64 -d"${secs}s" "http://127.0.0.1:$listen$v1" | rps)
  post=$(wrk -t1 -c64 -d"${secs}s" -s "$dir/post.lua" "http://127.0.0.1:$listen$v2" | rps)
  awk -v r="$round" -v g="$get" -v p="$post" \
    'BEGIN { printf "round %d: v1 GET hit %.0f req/s, V2 POST hit %.0f req/s, ratio %.2f\n", r, g, p, p / g }'
done | tee "$dir/rounds"
echo "median ratio: $(awk '{print $NF}' "$dir/rounds" | sort -g | awk '{x[NR]=$1} END {print (NR%2 ? x[(NR+1)/2] : (x[NR/2]+x[NR/2+1])/2)}')"
kill "$(cat "$dir/hits.pid")" 2>/dev/null || true

echo "# 2. callgrind: user-space instructions per hit, 16 connections, 3 s of wrk"
count() {
  local name=$1 url=$2; shift 2
  local listen
  listen=$(port)
  write_config "$dir/cg-$name.yaml" "$listen" "$upstream"
  valgrind --tool=callgrind --callgrind-out-file="$dir/$name.out" "$bin" --config "$dir/cg-$name.yaml" \
    >/dev/null 2>"$dir/$name.cg.log" &
  local pid=$!
  for _ in $(seq 1 150); do curl -sf -o /dev/null "http://127.0.0.1:$listen/healthz" && break; sleep 0.2; done
  warm "$listen"
  wrk -t1 -c16 -d2s "$@" "http://127.0.0.1:$listen$url" >/dev/null
  callgrind_control -z "$pid" >/dev/null 2>&1
  local requests
  requests=$(wrk -t1 -c16 -d3s "$@" "http://127.0.0.1:$listen$url" | awk '/requests in/{print $1}')
  callgrind_control -d "$pid" >/dev/null 2>&1
  kill "$pid"; wait "$pid" 2>/dev/null || true
  local dump instructions
  dump=$(ls -t "$dir/$name.out".* | head -1)
  instructions=$(awk '/^(summary|totals):/{print $2; exit}' "$dump")
  echo "$name: $requests requests, $((instructions / requests)) instructions per request"
}
count "v1 GET hit" "$v1"
count "V2 POST hit" "$v2" -s "$dir/post.lua"

echo "# 3. alignment: 50 dashboards, \"the last hour\" every 10 s, for ${dashboard_secs} s"
aligned=$(port); unaligned=$(port); admin_a=$(port); admin_u=$(port)
start aligned "$aligned" APPSIGNAL_GATEWAY_ADMIN_LISTEN="127.0.0.1:$admin_a"
start unaligned "$unaligned" APPSIGNAL_GATEWAY_ADMIN_LISTEN="127.0.0.1:$admin_u" APPSIGNAL_GATEWAY_CACHE__ALIGN_TIMES=false
python3 - "$aligned" "$unaligned" "$admin_a" "$admin_u" "$dashboard_secs" <<'PY'
import heapq, json, random, sys, time, urllib.request
aligned, unaligned, admin_a, admin_u, duration = sys.argv[1:6]
duration = int(duration)
def post(port, to):
    body = {"site_id": "blog", "from": to - 3600, "to": to,
            "select": [{"name": "transaction_duration", "tags": {"namespace": "web"}, "field": "MEAN"},
                       {"name": "transaction_duration", "tags": {"namespace": "web"}, "field": "P95"}]}
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v2/metrics/timeseries",
                                 data=json.dumps(body).encode(), headers={"content-type": "application/json"})
    with urllib.request.urlopen(req) as res:
        assert res.status == 200
def calls(admin):
    text = urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics").read().decode()
    return sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines()
               if l.startswith("appsignal_gateway_upstream_calls_total"))
base = {p: calls(p) for p in (admin_a, admin_u)}
rng = random.Random(24)
start = time.time()
events = [(rng.uniform(0, 10), d) for d in range(50)]
heapq.heapify(events)
requests = 0
while events:
    at, dashboard = heapq.heappop(events)
    if at >= duration:
        continue
    time.sleep(max(0.0, start + at - time.time()))
    to = int(time.time())
    post(aligned, to); post(unaligned, to)
    requests += 1
    heapq.heappush(events, (at + 10, dashboard))
steps = duration // 30 + 1
for name, admin in (("align_times: true ", admin_a), ("align_times: false", admin_u)):
    print(f"{name}: {requests} requests, {calls(admin) - base[admin]:.0f} upstream queries "
          f"(one per 30 s step would be {steps}, or {steps + 1} across a step boundary)")
PY

echo "# 4. body-parse cost (examples/v2_parse)"
target/release/examples/v2_parse
