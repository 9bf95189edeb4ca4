#!/usr/bin/env bash
# Flame graphs of the gateway's cache-hit path under load, sampled by perf (Debian's
# linux-perf; software clock, so it works in VMs without hardware counters) and drawn
# by inferno (`cargo install inferno`).
#   bench/flame.sh [SECONDS]     # writes docs/flame-h1.svg (wrk, 64 connections) and
#                                # docs/flame-h2.svg (h2load over TLS, 64 connections × 10 streams)
# The gateway is built with line tables (in target/flame, or $FLAME_TARGET_DIR) and runs
# pinned to core 1 with the load on core 0, as in bench/tls.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
seconds=${1:-5}
need=()
command -v perf >/dev/null || need+=(linux-perf)
command -v wrk >/dev/null || need+=(wrk)
command -v h2load >/dev/null || need+=(nghttp2-client)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v inferno-flamegraph >/dev/null || cargo install --quiet inferno
CARGO_TARGET_DIR=${FLAME_TARGET_DIR:-target/flame} CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
  cargo build --release --quiet --bin appsignal-gateway --example ceiling
bin=${FLAME_TARGET_DIR:-target/flame}/release
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$dir"' EXIT

write_body "$dir/body.json"
upstream=$(port)
taskset -c 0 "$bin/examples/ceiling" "127.0.0.1:$upstream" "$dir/body.json" >/dev/null &
write_cert "$dir"
path="/api/blog/samples.json?limit=10"

# profile NAME SCHEME LABEL LOAD...: a fresh gateway (TLS when SCHEME is https), warmed, then
# perf samples it while LOAD (with URL appended) runs, and the stacks become docs/flame-NAME.svg.
profile() {
  local name=$1 scheme=$2 label=$3; shift 3
  local listen
  listen=$(port)
  write_config "$dir/$name.yaml" "$listen" "$upstream"
  if [ "$scheme" = https ]; then
    printf 'tls: {cert_file: "%s", key_file: "%s"}\n' "$dir/cert.pem" "$dir/key.pem" >>"$dir/$name.yaml"
  fi
  taskset -c 1 "$bin/appsignal-gateway" --config "$dir/$name.yaml" >"$dir/$name.log" 2>&1 &
  local pid=$! url="$scheme://127.0.0.1:$listen$path"
  for _ in $(seq 1 100); do curl -skf -o /dev/null "$url" && break; sleep 0.1; done
  taskset -c 0 "$@" "$url" >"$dir/$name.load" 2>&1 &
  local load=$!
  sleep 1   # past the load's connection set-up: the steady state is what is drawn
  perf record -q -F 1999 -e cpu-clock --call-graph dwarf,16384 -p "$pid" -o "$dir/$name.perf" -- sleep "$seconds" 2>/dev/null
  wait "$load" || true
  kill "$pid"; wait "$pid" 2>/dev/null || true
  perf script --no-inline -i "$dir/$name.perf" 2>/dev/null | inferno-collapse-perf >"$dir/$name.folded"
  inferno-flamegraph --title "appsignal-gateway: cache hits over $label ($(git rev-parse --short HEAD))" \
    --width 1200 <"$dir/$name.folded" >"docs/flame-$name.svg"
  echo "docs/flame-$name.svg: $(wc -l <"$dir/$name.folded") stacks; load: $(grep -E 'Requests/sec|finished in' "$dir/$name.load" | head -1)"
  # The frames most often on the stack (inclusive share of the samples), for BENCHMARKS.md.
  python3 - "$dir/$name.folded" "${TOP:-25}" <<'PY'
import collections, re, sys
total, seen = 0, collections.Counter()
for line in open(sys.argv[1]):
    stack, _, count = line.rstrip().rpartition(" ")
    total += int(count)
    # One name per frame: generic arguments and hashes dropped, each name counted once per stack.
    names = {re.sub(r"::h[0-9a-f]{16}$", "", re.sub(r"<[^<>]*>", "", f)) for f in stack.split(";")}
    for n in names:
        seen[n] += int(count)
for n, c in seen.most_common(int(sys.argv[2])):
    print(f"  {100 * c / total:5.1f}%  {n[:150]}")
PY
}

profile h1 http "HTTP/1.1, 64 connections (wrk)" wrk -t1 -c64 -d"$((seconds + 2))s"
profile h2 https "HTTP/2 over TLS, 64 connections x 10 streams (h2load)" h2load -c 64 -m 10 -t 1 -D "$((seconds + 2))"
