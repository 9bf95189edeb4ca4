#!/usr/bin/env bash
# Cache hits over HTTPS: the gateway against nginx (`listen ... ssl`, `http2 on`,
# proxy_cache) in front of the same upstream, one worker each pinned to the same core,
# the load generator on the other. HTTP/2 with h2load (Debian's nghttp2-client), HTTPS/1.1
# with wrk, alternating rounds in one run.
#   bench/tls.sh [ROUNDS] [SECONDS]      # default 3 rounds of 5 s per tool and server
# Two environment variables serve bench/run.sh, which draws HTTP/2 into docs/bench.svg:
#   TLS_PROTOCOLS="h2"      only these of `h2 h2paced h1` (the default: all three)
#   TLS_RESULTS=FILE        also append the table's figures to FILE as TSV lines
#                           (`protocol server connections rps p50_us p99_us`, bench/chart.py)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
rounds=${1:-3}
seconds=${2:-5}
protocols=${TLS_PROTOCOLS:-h2 h2paced h1}
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v h2load >/dev/null || need+=(nghttp2-client)
command -v openssl >/dev/null || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
cargo build --release --quiet --bin appsignal-gateway --example ceiling
dir=$(mktemp -d)
chmod 755 "$dir"   # nginx workers run as another user
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$dir"' EXIT

write_body "$dir/body.json"
upstream=$(port)
taskset -c 0 target/release/examples/ceiling "127.0.0.1:$upstream" "$dir/body.json" >/dev/null &
write_cert "$dir"

gateway=$(port)
write_config "$dir/gateway.yaml" "$gateway" "$upstream"
printf 'tls: {cert_file: "%s", key_file: "%s"}\n' "$dir/cert.pem" "$dir/key.pem" >>"$dir/gateway.yaml"
taskset -c 1 target/release/appsignal-gateway --config "$dir/gateway.yaml" >"$dir/gateway.log" 2>&1 &
gateway_pid=$!

nginx_port=$(port)
write_nginx_tls "$dir" "$nginx_port" "$upstream"
taskset -c 1 nginx -p "$dir/nginx" -c "$dir/nginx/nginx.conf" -e "$dir/nginx/error.log" &

path="/api/blog/samples.json?limit=10"
for target in "$gateway" "$nginx_port"; do
  for _ in $(seq 1 100); do curl -skf -o /dev/null "https://127.0.0.1:$target$path" && break; sleep 0.1; done
  curl -sk -o /dev/null -w "warm-up https://127.0.0.1:$target: %{http_code} %{http_version}\n" "https://127.0.0.1:$target$path"
done

# CPU time (clock ticks, user + system) of the server named $1 so far: the load
# generator can be the bottleneck, so server CPU per request is reported beside req/s.
ticks() {
  local pids
  if [ "$1" = gateway ]; then
    pids=$gateway_pid
  else  # the master (its pid file) and its worker
    pids="$(cat "$dir/nginx/nginx.pid") $(pgrep -P "$(cat "$dir/nginx/nginx.pid")" | tr '\n' ' ')"
  fi
  for p in $pids; do awk '{print $14 + $15}' "/proc/$p/stat"; done | awk '{s+=$1} END {print s}'
}
hz=$(getconf CLK_TCK)

# h2 NAME PORT: requests/s, p99 (ms), failures, server CPU µs per request and p50 (ms)
# of 64 h2 clients with 10 streams each.
h2() {
  local before after
  before=$(ticks "$1")
  rm -f "$dir/h2.log"   # h2load appends to its log
  taskset -c 0 h2load -c 64 -m 10 -t 1 -D "$seconds" --warm-up-time 1 --log-file "$dir/h2.log" ${H2_RPS:+--rps=$H2_RPS} \
    "https://127.0.0.1:$2$path" >"$dir/h2.out" 2>&1 || true
  local rps p50 p99 failed
  rps=$(awk '/finished in/{for(i=1;i<=NF;i++) if($i ~ /req\/s/) print $(i-1)}' "$dir/h2.out" | tr -d ',')
  failed=$(awk '/requests:/{for(i=1;i<=NF;i++) if($i=="failed,") print $(i-1)}' "$dir/h2.out")
  awk -F'\t' '{print $3}' "$dir/h2.log" | sort -n >"$dir/h2.sorted"
  p50=$(awk '{a[NR]=$1} END {print a[int(NR*0.5)]/1000}' "$dir/h2.sorted")
  p99=$(awk '{a[NR]=$1} END {print a[int(NR*0.99)]/1000}' "$dir/h2.sorted")
  after=$(ticks "$1")
  echo "${H2_NAME:-h2} $1 $rps $p99 $failed $(awk -v t=$((after - before)) -v hz="$hz" -v r="$rps" -v s="$seconds" 'BEGIN {printf "%.2f", t * 1e6 / hz / ((s + 1) * r)}') $p50"
}
# ms PERCENTILE: that line of wrk's --latency output (on stdin), in ms.
ms() { awk -v q="$1" '$1==q{v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else {sub(/s/,"",v); v*=1000}; print v}'; }
# h1 NAME PORT: requests/s, p99 (ms), errors, server CPU µs per request and p50 (ms) of
# wrk, 64 HTTPS/1.1 connections.
h1() {
  local out rps p50 p99 errors before after
  before=$(ticks "$1")
  out=$(taskset -c 0 wrk -t1 -c64 -d"${seconds}s" --latency "https://127.0.0.1:$2$path")
  rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
  p50=$(echo "$out" | ms 50%)
  p99=$(echo "$out" | ms 99%)
  errors=$(echo "$out" | awk '/Non-2xx|Socket errors/{print}' | tr '\n' ' ' | tr -s ' ' '_')
  after=$(ticks "$1")
  echo "h1 $1 $rps $p99 ${errors:-0} $(awk -v t=$((after - before)) -v hz="$hz" -v r="$rps" -v s="$seconds" 'BEGIN {printf "%.2f", t * 1e6 / hz / (s * r)}') $p50"
}
# on PROTOCOL: whether this run measures it (TLS_PROTOCOLS).
on() { [[ " $protocols " == *" $1 "* ]]; }

echo "# HTTPS cache hits: $rounds rounds of ${seconds}s each, 64 connections, servers on core 1, load on core 0"
for round in $(seq 1 "$rounds"); do
  for server in gateway nginx; do
    port=$gateway; [ "$server" = nginx ] && port=$nginx_port
    if on h2; then h2 "$server" "$port" | sed "s/^/round $round: /"; fi
    # The same at a fixed 32,000 req/s (500 per client), below both servers' capacity:
    # latency without the queueing of a saturated core.
    if on h2paced; then H2_NAME=h2paced H2_RPS=500 h2 "$server" "$port" | sed "s/^/round $round: /"; fi
    if on h1; then h1 "$server" "$port" | sed "s/^/round $round: /"; fi
  done
done | tee "$dir/results"
echo
echo "| protocol | gateway req/s | nginx req/s | gateway/nginx | gateway p99 ms | nginx p99 ms | gateway CPU µs/req | nginx CPU µs/req |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for proto in $protocols; do
  awk -v p="$proto" '$3==p {n[$4]++; rps[$4]+=$5; p99[$4]+=$6; cpu[$4]+=$8}
    END {g=rps["gateway"]/n["gateway"]; x=rps["nginx"]/n["nginx"];
         printf "| %s | %.0f | %.0f | %.2f | %.2f | %.2f | %.2f | %.2f |\n", (p=="h2"?"HTTP/2 (h2load -m 10)":(p=="h2paced"?"HTTP/2 at 32,000 req/s (h2load --rps 500)":"HTTPS/1.1 (wrk)")), g, x, g/x, p99["gateway"]/n["gateway"], p99["nginx"]/n["nginx"], cpu["gateway"]/n["gateway"], cpu["nginx"]/n["nginx"]}' "$dir/results"
done
# The same means as the table, for bench/chart.py; HTTPS/1.1 is named apart from the plain
# HTTP/1.1 of examples/bench.rs, which runs on the other core.
if [ -n "${TLS_RESULTS:-}" ]; then
  [ -s "$TLS_RESULTS" ] || printf '# protocol\tserver\tconnections\trps\tp50_us\tp99_us\n' >"$TLS_RESULTS"
  of="$rounds rounds"; [ "$rounds" = 1 ] && of="1 round"
  printf '# note: HTTPS: bench/tls.sh, 64 connections (h2load -m 10 for HTTP/2), means of %s of %s s, servers on core 1\n' \
    "$of" "$seconds" >>"$TLS_RESULTS"
  for proto in $protocols; do
    for server in gateway nginx; do
      awk -v p="$proto" -v s="$server" -v OFS='\t' '$3==p && $4==s {n++; rps+=$5; p99+=$6; p50+=$9}
        END {if (n) print (p=="h1"?"https1":p), s, 64, sprintf("%.0f", rps/n), sprintf("%.0f", p50/n*1000), sprintf("%.0f", p99/n*1000)}' \
        "$dir/results" >>"$TLS_RESULTS"
    done
  done
fi
