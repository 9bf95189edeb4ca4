#!/usr/bin/env bash
# The shared tier's cost: latency of shared-tier hits beside own-cache hits (two replicas
# on one loopback Redis, examples/shared_latency.rs), and requests failed while Redis is
# killed under load.
#   bench/shared.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
command -v redis-server >/dev/null || apt-get install -y -qq redis-server redis-tools >/dev/null
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
cargo build --release --quiet --bin appsignal-gateway --example ceiling --example shared_latency
dir=$(mktemp -d)
# Replicas start in command substitutions (subshells): their pids are kept in a file.
trap 'kill $(jobs -p) $(cat "$dir"/*.pid 2>/dev/null) 2>/dev/null; rm -rf "$dir"' EXIT

write_body "$dir/body.json"
upstream=$(port)
target/release/examples/ceiling "127.0.0.1:$upstream" "$dir/body.json" >/dev/null &
redis=$(port)
redis-server --port "$redis" --bind 127.0.0.1 --save "" --appendonly no >/dev/null &
redis_pid=$!
for _ in $(seq 1 100); do redis-cli -p "$redis" ping >/dev/null 2>&1 && break; sleep 0.1; done
export SHARED_REDIS_URL="redis://127.0.0.1:$redis/0"

start() {  # start NAME: a replica; prints its port (its admin port in $dir/NAME.admin)
  local listen admin
  listen=$(port)
  admin=$(port)
  write_config "$dir/$1.yaml" "$listen" "$upstream"
  sed -i "s/admin_listen: \"127.0.0.1:0\"/admin_listen: \"127.0.0.1:$admin\"/" "$dir/$1.yaml"
  echo "$admin" >"$dir/$1.admin"
  target/release/appsignal-gateway --config "$dir/$1.yaml" >"$dir/$1.log" 2>&1 &
  echo $! >"$dir/$1.pid"
  for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$listen/healthz" && break; sleep 0.1; done
  echo "$listen"
}
a=$(start a)
b=$(start b)
sleep 1.5   # the first heartbeat closes each replica's breaker

echo "# shared-tier hits against own-cache hits (replica B, Redis on loopback)"
target/release/examples/shared_latency "http://127.0.0.1:$a" "http://127.0.0.1:$b"

echo
echo "# three replicas, 200 repeated keys, lists fresh for 2 s: upstream calls per key per TTL"
kill "$(cat "$dir/a.pid")" "$(cat "$dir/b.pid")"
export LIST_TTL=2s
a=$(start a); b=$(start b); c=$(start c)
sleep 1.5
cat >"$dir/repeated.lua" <<'LUA'
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/api/blog/samples.json?limit=" .. (counter % 200 + 1))
end
LUA
# The fleet's upstream calls so far, from the three replicas' metrics.
fleet_calls() {
  local total=0
  for r in a b c; do
    m=$(curl -s "http://127.0.0.1:$(cat "$dir/$r.admin")/metrics")
    total=$((total + $(echo "$m" | awk '/^appsignal_gateway_upstream_calls_total/{s+=$2} END {print s+0}')))
    [ -n "${SHARED_DEBUG:-}" ] && echo "$m" | grep -E "^appsignal_gateway_(shared_(lock_waits|reads|fallbacks|budget)|cache_(stale|hits|shared|misses|coalesced))" >&2
  done
  echo "$total"
}
loads=()
for r in a b c; do
  wrk -t1 -c8 -d12s -s "$dir/repeated.lua" "http://127.0.0.1:$(eval echo "\$$r")" >"$dir/wrk-$r.out" &
  loads+=($!)
done
# Counted over 8 s in the middle of the load (after the first fill, before the end): four
# expiries of every key, so one call per key per TTL for the fleet is 800 calls.
sleep 2; first=$(fleet_calls); sleep 8; last=$(fleet_calls)
wait "${loads[@]}"
served=0
for r in a b c; do served=$((served + $(awk '/requests in/{print $1}' "$dir/wrk-$r.out"))); done
python3 -c "print(f'{$served} requests on three replicas; {$last - $first} upstream calls in the middle 8 s: {($last - $first) / 800:.2f} calls per key per TTL (1.00: one call per key per TTL for the fleet; 3.00: three islands)')"
unset LIST_TTL

echo
echo "# Redis killed under load: 8 s of wrk on distinct keys (misses) at replica A, Redis killed after 3 s"
cat >"$dir/distinct.lua" <<'LUA'
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/api/blog/samples.json?limit=" .. (counter % 1000 + 1) .. "&since=" .. (1600000000 + counter))
end
LUA
(sleep 3; kill -9 "$redis_pid") &
wrk -t1 -c16 -d8s --latency -s "$dir/distinct.lua" "http://127.0.0.1:$a" | grep -E "Latency|requests in|Non-2xx|Socket errors|50%|99%"
