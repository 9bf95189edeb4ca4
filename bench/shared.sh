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
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$dir"' EXIT

write_body "$dir/body.json"
upstream=$(port)
target/release/examples/ceiling "127.0.0.1:$upstream" "$dir/body.json" >/dev/null &
redis=$(port)
redis-server --port "$redis" --bind 127.0.0.1 --save "" --appendonly no >/dev/null &
redis_pid=$!
for _ in $(seq 1 100); do redis-cli -p "$redis" ping >/dev/null 2>&1 && break; sleep 0.1; done
export SHARED_REDIS_URL="redis://127.0.0.1:$redis/0"

start() {  # start NAME: a replica; prints its port
  local listen
  listen=$(port)
  write_config "$dir/$1.yaml" "$listen" "$upstream"
  target/release/appsignal-gateway --config "$dir/$1.yaml" >"$dir/$1.log" 2>&1 &
  for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$listen/healthz" && break; sleep 0.1; done
  echo "$listen"
}
a=$(start a)
b=$(start b)
sleep 1.5   # the first heartbeat closes each replica's breaker

echo "# shared-tier hits against own-cache hits (replica B, Redis on loopback)"
target/release/examples/shared_latency "http://127.0.0.1:$a" "http://127.0.0.1:$b"

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
