#!/usr/bin/env bash
# The HTTP/2 tail under saturation: gateway builds against nginx, cache hits over TLS,
# 64 h2load clients with 10 streams each (640 at once), each server in turn per round,
# servers on core 1 and the load on core 0 (as bench/tls.sh). Per round and server:
# req/s and the latency percentiles of every request (h2load's log), then the medians.
#   bench/h2.sh [--rounds N] [--seconds S] NAME=BINARY [NAME=BINARY ...]
#   bench/h2.sh before=/tmp/gw-a866dcd after=target/release/appsignal-gateway
# An environment setting for one build goes after its binary, comma-separated:
#   bench/h2.sh plain=target/release/appsignal-gateway multi=target/release/appsignal-gateway,TOKIO_WORKER_THREADS=2
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
rounds=3 seconds=5
while [[ $# -gt 0 && $1 == --* ]]; do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[[ $# -gt 0 ]] || set -- "current=target/release/appsignal-gateway"
need=()
command -v h2load >/dev/null || need+=(nghttp2-client)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
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
names=()
declare -A ports
for spec in "$@"; do
  name=${spec%%=*} rest=${spec#*=}
  binary=${rest%%,*} settings=()
  [[ $rest == *,* ]] && IFS=, read -r -a settings <<<"${rest#*,}"
  ports[$name]=$(port)
  write_config "$dir/$name.yaml" "${ports[$name]}" "$upstream"
  printf 'tls: {cert_file: "%s", key_file: "%s"}\n' "$dir/cert.pem" "$dir/key.pem" >>"$dir/$name.yaml"
  env "${settings[@]}" taskset -c 1 "$binary" --config "$dir/$name.yaml" >"$dir/$name.log" 2>&1 &
  names+=("$name")
done
ports[nginx]=$(port)
write_nginx_tls "$dir" "${ports[nginx]}" "$upstream"
taskset -c 1 nginx -p "$dir/nginx" -c "$dir/nginx/nginx.conf" -e "$dir/nginx/error.log" &
names+=(nginx)
path="/api/blog/samples.json?limit=10"
for name in "${names[@]}"; do
  for _ in $(seq 1 100); do curl -skf -o /dev/null "https://127.0.0.1:${ports[$name]}$path" && break; sleep 0.1; done
done

echo "# HTTP/2 cache hits, h2load -c 64 -m 10 over TLS, $rounds rounds of ${seconds}s; latency in ms"
echo "| round | server | req/s | p50 | p90 | p99 | p99.9 | max | failed |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for round in $(seq 1 "$rounds"); do
  for name in "${names[@]}"; do
    rm -f "$dir/h2.log"   # h2load appends to its log
    taskset -c 0 h2load -c 64 -m 10 -t 1 -D "$seconds" --warm-up-time 1 --log-file "$dir/h2.log" \
      "https://127.0.0.1:${ports[$name]}$path" >"$dir/h2.out" 2>&1 || true
    rps=$(awk '/finished in/{for(i=1;i<=NF;i++) if($i ~ /req\/s/) print $(i-1)}' "$dir/h2.out" | tr -d ',')
    failed=$(awk '/^requests:/{for(i=1;i<=NF;i++) if($i=="failed,") print $(i-1)}' "$dir/h2.out")
    awk -F'\t' '{print $3}' "$dir/h2.log" | sort -n | awk -v r="$round" -v s="$name" -v q="$rps" -v f="$failed" \
      '{a[NR]=$1} END {printf "| %s | %s | %.0f | %.1f | %.1f | %.1f | %.1f | %.1f | %s |\n", r, s, q,
        a[int(NR*0.5)]/1000, a[int(NR*0.9)]/1000, a[int(NR*0.99)]/1000, a[int(NR*0.999)]/1000, a[NR]/1000, f}'
  done
done | tee "$dir/rounds"
echo
echo "Medians over the rounds:"
echo
echo "| server | req/s | p50 | p90 | p99 | p99.9 | max |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
# median SERVER COLUMN: the median of that column of the round table over the rounds.
median() {
  awk -F' *[|] *' -v s="$1" -v c="$2" '$3==s {print $c}' "$dir/rounds" | sort -g \
    | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'
}
for name in "${names[@]}"; do
  printf '| %s | %.0f | %.1f | %.1f | %.1f | %.1f | %.1f |\n' "$name" \
    "$(median "$name" 4)" "$(median "$name" 5)" "$(median "$name" 6)" "$(median "$name" 7)" "$(median "$name" 8)" "$(median "$name" 9)"
done
