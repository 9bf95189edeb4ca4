#!/usr/bin/env bash
# Side-by-side hit throughput of gateway builds against the bare hyper ceiling: many
# short paired rounds in rotating order, each build's ratio to the ceiling per round,
# medians. For judging a hit-path change on this noisy machine (±2 %).
#   bench/compare.sh [--rounds N] [--connections C] NAME=BINARY [NAME=BINARY ...]
# Servers run on core 0, wrk on core 1.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
rounds=12 conns=64
while [[ $# -gt 0 && $1 == --* ]]; do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --connections) conns=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[[ $# -gt 0 ]] || set -- "current=target/release/appsignal-gateway"
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
cargo build --release --quiet --bin appsignal-gateway --example ceiling
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$dir"' EXIT
write_body "$dir/body.json"

names=() urls=()
ceiling=$(port)
taskset -c 0 target/release/examples/ceiling "127.0.0.1:$ceiling" "$dir/body.json" >/dev/null &
for pair in "$@"; do
  name=${pair%%=*} binary=${pair#*=} listen=$(port)
  write_config "$dir/$name.yaml" "$listen" "$ceiling"
  taskset -c 0 "$binary" --config "$dir/$name.yaml" >/dev/null 2>&1 &
  names+=("$name") urls+=("http://127.0.0.1:$listen/api/blog/samples.json?limit=10")
done
names+=(ceiling) urls+=("http://127.0.0.1:$ceiling/api/blog/samples.json?limit=10")
for url in "${urls[@]}"; do
  for _ in $(seq 1 100); do curl -sf -o /dev/null "$url" && break; sleep 0.1; done
done

n=${#urls[@]}
for round in $(seq 1 "$rounds"); do
  for k in $(seq 0 $((n - 1))); do
    t=$(((k + round) % n))
    rps=$(taskset -c 1 wrk -t1 -c"$conns" -d1s "${urls[$t]}" | awk '/Requests\/sec/{print $2}')
    echo "$round ${names[$t]} $rps"
  done
done >"$dir/runs"
python3 - "$dir/runs" "$conns" "$rounds" <<'EOF'
import collections, statistics, sys
runs = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    round_, name, rps = line.split()
    runs[round_][name] = float(rps)
print(f"# {sys.argv[3]} paired rounds of 1 s at {sys.argv[2]} connections")
names = [n for n in next(iter(runs.values())) if n != "ceiling"]
for name in sorted(names) + ["ceiling"]:
    rps = statistics.median(r[name] for r in runs.values())
    ratios = [r[name] / r["ceiling"] for r in runs.values()]
    print(f"{name}: median {rps:.0f} req/s, {statistics.median(ratios):.3f} of the ceiling"
          f" (rounds {min(ratios):.3f}-{max(ratios):.3f})")
EOF
