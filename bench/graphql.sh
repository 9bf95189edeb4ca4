#!/usr/bin/env bash
# A GraphQL GET-route hit, and a `POST /graphql` hit by persisted-query hash (Apollo's
# form), against a v1 hit, in the same gateway process (goals: within 5 %, since it is
# the same path; at least 0.8×): user-space instructions per request counted by
# callgrind, which other load on the machine does not move, over 4 s of wrk per URL after
# a warm-up that makes each one a hit, then req/s of each in alternating rounds. All
# answer the same body from the ceiling.
#   bench/graphql.sh [CONNECTIONS]         # GRAPHQL_ROUNDS=N: rounds of the req/s pass (5)
# Then the cost of loading 100 declared operations: `check` timed with 0 and with 100.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
command -v valgrind >/dev/null || apt-get install -y -qq valgrind >/dev/null
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
cargo build --release --quiet --bin appsignal-gateway --example ceiling
gateway=target/release/appsignal-gateway
conns=${1:-64}
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$dir"' EXIT

# One body for both: a GraphQL answer (`data`, no `errors`) is also JSON a v1 route relays.
python3 - "$dir/body.json" <<'PY'
import json, sys
rows = [{"number": i, "state": "OPEN", "severity": "HIGH", "count": 3 * i, "exceptionName": "NoMethodError",
         "lastOccurredAt": "2026-12-01T12:00:00Z"} for i in range(10)]
json.dump({"data": {"app": {"paginatedExceptionIncidents": {"total": 10, "rows": rows}}}}, open(sys.argv[1], "w"))
PY
upstream=$(port)
target/release/examples/ceiling "127.0.0.1:$upstream" "$dir/body.json" >/dev/null &
listen=$(port)
write_config "$dir/gateway.yaml" "$listen" "$upstream"
printf 'graphql: {builtin: true}\n' >>"$dir/gateway.yaml"
sed -i 's/cache: {ttl: {list: "\([^"]*\)"}}/cache: {ttl: {list: "\1", graphql: "1h"}}/' "$dir/gateway.yaml"

valgrind --tool=callgrind --callgrind-out-file="$dir/gw.out" "$gateway" --config "$dir/gateway.yaml" >/dev/null 2>"$dir/gw.log" &
pid=$!
v1="http://127.0.0.1:$listen/api/blog/samples.json?limit=10"
gql="http://127.0.0.1:$listen/api/blog/graphql/ExceptionIncidents.json?state=OPEN&limit=10"
for _ in $(seq 1 150); do curl -sf -o /dev/null "$v1" && break; sleep 0.2; done
curl -sf -o /dev/null "$gql"

# The same question by hash: the declared document's SHA-256, as Apollo Client sends it.
hash=$(sha256sum src/graphql/builtin/ExceptionIncidents.graphql | cut -d' ' -f1)
post='{"operationName":"ExceptionIncidents","variables":{"appId":"blog","state":"OPEN","limit":10},"extensions":{"persistedQuery":{"version":1,"sha256Hash":"'$hash'"}}}'
printf 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = %s\n' \
  "'$post'" >"$dir/post.lua"
answer=$(curl -s -H 'content-type: application/json' -d "$post" "http://127.0.0.1:$listen/graphql")
case "$answer" in *PersistedQueryNotFound*) echo "the hash is not the declared document's"; exit 1 ;; esac

# measure NAME URL [SCRIPT]: instructions per request for URL (wrk SCRIPT if given),
# counters zeroed before, dumped after.
measure() {
  local name=$1 url=$2 requests dump instructions script=()
  [ -n "${3:-}" ] && script=(-s "$3")
  wrk -t1 -c"$conns" -d2s "${script[@]}" "$url" >/dev/null
  callgrind_control -z "$pid" >/dev/null 2>&1
  requests=$(wrk -t1 -c"$conns" -d4s "${script[@]}" "$url" | awk '/requests in/{print $1}')
  callgrind_control -d "$pid" >/dev/null 2>&1
  sleep 1
  dump=$(ls -t "$dir"/gw.out.* | head -1)
  instructions=$(awk '/^(summary|totals):/{print $2; exit}' "$dump")
  echo "$name: $requests requests, $((instructions / requests)) instructions per request"
}
echo "# callgrind: user-space instructions per hit, $conns connections, 4 s of wrk each, one process"
for round in 1 2; do
  measure "v1-$round" "$v1"
  measure "graphql-$round" "$gql"
  measure "graphql-post-by-hash-$round" "http://127.0.0.1:$listen/graphql" "$dir/post.lua"
done
curl -s -D - -o /dev/null "$gql" | grep -i '^cache-status'
kill "$pid"; wait "$pid" 2>/dev/null || true

# Throughput, side by side: the same gateway (not under valgrind) on core 0, wrk on core
# 1, the three URLs in turn for $rounds rounds of 2 s; medians of req/s and of each
# round's ratio to the v1 hit.
rounds=${GRAPHQL_ROUNDS:-5}
taskset -c 0 "$gateway" --config "$dir/gateway.yaml" >/dev/null 2>"$dir/native.log" &
pid=$!
for _ in $(seq 1 100); do curl -sf -o /dev/null "$v1" && break; sleep 0.1; done
rate() {
  local script=()
  [ -n "${2:-}" ] && script=(-s "$2")
  taskset -c 1 wrk -t1 -c"$conns" -d2s "${script[@]}" "$1" | awk '/Requests\/sec/{print $2}'
}
echo "# req/s, $conns connections, $rounds rounds of 2 s (gateway on core 0, wrk on core 1)"
for round in $(seq 1 "$rounds"); do
  a=$(rate "$v1"); b=$(rate "$gql"); c=$(rate "http://127.0.0.1:$listen/graphql" "$dir/post.lua")
  echo "round $round: v1 $a graphql-get $b graphql-post-by-hash $c" \
    "ratios $(awk -v a="$a" -v b="$b" -v c="$c" 'BEGIN {printf "%.3f %.3f", b / a, c / a}')"
done | tee "$dir/rates"
med() { sort -g | awk '{x[NR]=$1} END {print (NR%2 ? x[(NR+1)/2] : (x[NR/2]+x[NR/2+1])/2)}'; }
echo "medians: v1 $(awk '{print $4}' "$dir/rates" | med) req/s;" \
  "GraphQL GET route $(awk '{print $10}' "$dir/rates" | med)× a v1 hit;" \
  "POST /graphql by hash $(awk '{print $11}' "$dir/rates" | med)× a v1 hit"
kill "$pid"; wait "$pid" 2>/dev/null || true

echo "# check: loading the configuration with 0 and with 100 declared operations (median of 5)"
mkdir -p "$dir/ops"
{
  printf 'upstream: {token: "bench-token"}\napps: [{id: "5114f7e38c5ce90000000011", name: "blog"}]\n'
} >"$dir/zero.yaml"
cp "$dir/zero.yaml" "$dir/hundred.yaml"
printf 'graphql:\n  operations:\n' >>"$dir/hundred.yaml"
for i in $(seq 1 100); do
  sed "s/query ExceptionIncidents(/query Op$i(/" src/graphql/builtin/ExceptionIncidents.graphql >"$dir/ops/op$i.graphql"
  printf '    - {name: "Op%s", file: "%s"}\n' "$i" "$dir/ops/op$i.graphql" >>"$dir/hundred.yaml"
done
timed() {
  for _ in 1 2 3 4 5; do
    /usr/bin/time -f "%e %M" "$gateway" check --config "$1" 2>&1 >/dev/null | tail -1
  done | sort -n | sed -n 3p
}
echo "0 operations (the 4 built-ins only): $(timed "$dir/zero.yaml") (seconds, max RSS KiB)"
echo "100 operations more: $(timed "$dir/hundred.yaml") (seconds, max RSS KiB)"
