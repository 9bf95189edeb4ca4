#!/usr/bin/env bash
# User-space instructions per cache hit, counted by callgrind: repeatable whatever else
# the machine is doing, so small hit-path changes show where req/s figures are noise.
#   bench/instructions.sh [GATEWAY_BINARY] [CONNECTIONS]
#   SHARED_REDIS_URL=redis://127.0.0.1:6379/0 bench/instructions.sh   # with `shared` configured
#   DASHBOARD_KEY=bench-key bench/instructions.sh                       # with dashboard keys configured
#   ANNOTATE=20 bench/instructions.sh       # also the gateway's 20 costliest functions (self cost)
#   PROTO=h2 bench/instructions.sh          # HTTP/2 over TLS (h2load, CONNECTIONS × 10 streams); gateway only
# Prints instructions per request for the gateway and for the bare hyper ceiling.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
command -v valgrind >/dev/null || apt-get install -y -qq valgrind >/dev/null
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
h2=; [ "${PROTO:-h1}" = h2 ] && h2=1
[ -n "$h2" ] && { command -v h2load >/dev/null || apt-get install -y -qq nghttp2-client >/dev/null; }
cargo build --release --quiet --bin appsignal-gateway --example ceiling
gateway=${1:-target/release/appsignal-gateway}
conns=${2:-64}
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$dir"' EXIT

# The body every hit answers, and an upstream that serves it (the ceiling, not counted).
write_body "$dir/body.json"
upstream=$(port)
target/release/examples/ceiling "127.0.0.1:$upstream" "$dir/body.json" >/dev/null &

# count NAME PORT COMMAND...: runs COMMAND (serving /api/blog/samples.json on PORT) under
# callgrind and prints instructions per request over a 4 s wrk run after a 2 s warm-up.
count() {
  local name=$1 listen=$2; shift 2
  valgrind --tool=callgrind --callgrind-out-file="$dir/$name.out" "$@" >/dev/null 2>"$dir/$name.log" &
  local pid=$! url="http://127.0.0.1:$listen/api/blog/samples.json?limit=10"
  [ -n "$h2" ] && url="https${url#http}"
  for _ in $(seq 1 150); do curl -skf -o /dev/null -H "Authorization: Bearer ${DASHBOARD_KEY:-none}" "$url" && break; sleep 0.2; done
  local auth=()
  [ -n "${DASHBOARD_KEY:-}" ] && auth=(-H "Authorization: Bearer $DASHBOARD_KEY")
  local requests
  if [ -n "$h2" ]; then
    h2load -c"$conns" -m10 -t1 -D2 "${auth[@]}" "$url" >/dev/null
    callgrind_control -z "$pid" >/dev/null 2>&1
    requests=$(h2load -c"$conns" -m10 -t1 -D4 "${auth[@]}" "$url" | awk '/^requests:/{for(i=1;i<=NF;i++) if($i=="succeeded,") print $(i-1)}')
  else
    wrk -t1 -c"$conns" -d2s "${auth[@]}" "$url" >/dev/null
    callgrind_control -z "$pid" >/dev/null 2>&1
    requests=$(wrk -t1 -c"$conns" -d4s "${auth[@]}" "$url" | awk '/requests in/{print $1}')
  fi
  callgrind_control -d "$pid" >/dev/null 2>&1
  kill "$pid"; wait "$pid" 2>/dev/null || true
  local dump instructions
  dump=$(ls -t "$dir/$name.out".* | head -1)
  instructions=$(awk '/^(summary|totals):/{print $2; exit}' "$dump")
  echo "$name: $requests requests, $((instructions / requests)) instructions per request"
  if [ -n "${ANNOTATE:-}" ] && [ "$name" = gateway ]; then
    callgrind_annotate --inclusive=no --threshold=100 "$dump" 2>/dev/null | grep -v "(100.0%)" \
      | awk -v n="$ANNOTATE" -v r="$requests" '/^-+$/{rule++; next} rule>=3 && NF>=2 && shown<n {
          gsub(",", "", $1); printf "  %7d per request  %s\n", $1 / r, $0; shown++ }'
  fi
}

listen=$(port)
write_config "$dir/gateway.yaml" "$listen" "$upstream"
if [ -n "$h2" ]; then
  write_cert "$dir"
  printf 'tls: {cert_file: "%s", key_file: "%s"}\n' "$dir/cert.pem" "$dir/key.pem" >>"$dir/gateway.yaml"
  echo "# callgrind: user-space instructions per request, HTTP/2 over TLS, $conns connections × 10 streams, 4 s of h2load"
  count gateway "$listen" "$gateway" --config "$dir/gateway.yaml"
  exit 0
fi
echo "# callgrind: user-space instructions per request, $conns connections, 4 s of wrk"
count gateway "$listen" "$gateway" --config "$dir/gateway.yaml"
ceiling=$(port)
count ceiling "$ceiling" target/release/examples/ceiling "127.0.0.1:$ceiling" "$dir/body.json"
