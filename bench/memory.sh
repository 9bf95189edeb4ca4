#!/usr/bin/env bash
# RSS of a gateway after its cache is filled with ENTRIES distinct v1 list entries (each the
# 10-sample body under its own key), `cache.max_size` 1 GiB: to compare builds (an
# allocator, a weigher change) by the memory they hold for the same cached bytes.
#   bench/memory.sh [GATEWAY_BINARY] [ENTRIES]
#   MIX=1 bench/memory.sh ...   # a third each of v1 lists, V2 timeseries POSTs and GraphQL
#                               # GET-route answers (one GraphQL-shaped body serves all three)
# Prints entries cached, the weigher's cached MiB, RSS MiB and RSS per cached byte.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
cargo build --release --quiet --bin appsignal-gateway --example ceiling
gateway=${1:-target/release/appsignal-gateway}
entries=${2:-100000}
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$dir"' EXIT

if [ -n "${MIX:-}" ]; then
  python3 - "$dir/body.json" <<'PY'
import json, sys
rows = [{"number": i, "state": "OPEN", "severity": "HIGH", "count": 3 * i, "exceptionName": "NoMethodError",
         "lastOccurredAt": "2026-12-01T12:00:00Z", "namespace": "web", "actionName": "BlogPostsController#show"}
        for i in range(12)]
json.dump({"data": {"app": {"paginatedExceptionIncidents": {"total": 12, "rows": rows}}}}, open(sys.argv[1], "w"))
PY
else
  write_body "$dir/body.json"
fi
upstream=$(port)
target/release/examples/ceiling "127.0.0.1:$upstream" "$dir/body.json" >/dev/null &
listen=$(port) admin=$(port)
write_config "$dir/gateway.yaml" "$listen" "$upstream"
sed -i "s|^admin_listen: .*|admin_listen: \"127.0.0.1:$admin\"|" "$dir/gateway.yaml"
printf 'cache: {max_size: "1GiB", align_times: false, ttl: {list: "1h", metrics: "1h", graphql: "1h"}}\n' >>"$dir/gateway.yaml"
[ -n "${MIX:-}" ] && printf 'graphql: {builtin: true}\n' >>"$dir/gateway.yaml"
sed -i '0,/^cache: {ttl/{/^cache: {ttl/d}' "$dir/gateway.yaml"
"$gateway" --config "$dir/gateway.yaml" >/dev/null 2>&1 &
pid=$!
gauge() { curl -sf --max-time 5 "http://127.0.0.1:$admin/metrics" | awk -v n="$1" '$1 == n {print int($2); exit}' || true; }
for _ in $(seq 1 150); do curl -sf -o /dev/null "http://127.0.0.1:$listen/api/blog/samples.json?limit=10" && break; sleep 0.2; done

cat >"$dir/fill.lua" <<'LUA'
local n, count, mix = 0, 1, false
init = function(args) count = tonumber(args[1]); mix = args[2] == "mix" end
request = function()
  n = n + 1
  local i = 1 + n % count
  if mix and i % 3 == 1 then
    local from = 1700000000 + i * 60
    return wrk.format("POST", "/api/v2/metrics/timeseries", {["Content-Type"] = "application/json"},
      '{"site_id":"blog","from":' .. from .. ',"to":' .. (from + 3600) ..
      ',"select":[{"name":"transaction_duration","tags":{"namespace":"web"},"field":"MEAN"}]}')
  elseif mix and i % 3 == 2 then
    return wrk.format("GET", "/api/blog/graphql/ExceptionIncidents.json?state=OPEN&limit=10&offset=" .. i)
  end
  return wrk.format("GET", "/api/blog/samples.json?limit=10&since=" .. i)
end
LUA
wrk -t1 -c128 -d600s -s "$dir/fill.lua" "http://127.0.0.1:$listen/" -- "$entries" "${MIX:+mix}" >/dev/null &
filler=$!
last=0 still=0
while :; do
  sleep 0.5
  now=$(gauge appsignal_gateway_cache_entries)
  [ "${now:-0}" -ge "$entries" ] && break
  if [ "${now:-0}" -le "$last" ]; then still=$((still + 1)); [ "$still" -ge 10 ] && break; else still=0; fi
  last=${now:-0}
done
kill "$filler"; wait "$filler" 2>/dev/null || true
cached=$(gauge appsignal_gateway_cache_entries)
bytes=$(gauge appsignal_gateway_cache_bytes)
rss_kib=$(awk '/^VmRSS:/{print $2}' "/proc/$pid/status")
echo "$(basename "$gateway"): $cached entries, $((bytes / 1048576)) MiB weighed, RSS $((rss_kib / 1024)) MiB," \
  "$(awk -v r="$rss_kib" -v b="$bytes" 'BEGIN { printf "%.2f", r * 1024 / b }') RSS bytes per weighed byte"
