#!/usr/bin/env bash
# The benchmark, end to end: installs wrk, nginx, Varnish and h2load (apt; a server's row is
# skipped if it cannot be installed), builds the release gateway and the bench programs,
# prints the tables, measures HTTP/2 hits (bench/tls.sh, h2 only) and draws the HTTP/1.1
# and HTTP/2 figures into docs/bench.svg (bench/chart.py, from docs/bench.tsv).
#   bench/run.sh               # the full run (about 2.5 min after the build; 2-3 min to build)
#   bench/run.sh --quick       # a few seconds a part: checks that it all still works, chart included
#   bench/run.sh --hits-only   # only the cache-hit table; neither HTTP/2 nor the chart
set -euo pipefail
cd "$(dirname "$0")/.."
quick="" hits_only=""
for arg in "$@"; do
  case $arg in
    --quick) quick=1 ;;
    --hits-only) hits_only=1 ;;
  esac
done

installed() { command -v "$1" >/dev/null || [ -x "/usr/sbin/$1" ]; }
missing=()
installed wrk || missing+=(wrk)
installed nginx || missing+=(nginx-light)
installed varnishd || missing+=(varnish)
installed h2load || missing+=(nghttp2-client)
if [ ${#missing[@]} -gt 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq >/dev/null 2>&1 || true
  # One at a time, so that a package that cannot be had does not keep the others out.
  for package in "${missing[@]}"; do
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null 2>&1 \
      || echo "note: could not install $package with apt" >&2
  done
fi
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
cargo build --release --quiet --bin appsignal-gateway --example ceiling --example bench

# Written beside the chart rather than to a temporary file, so that the chart can be
# redrawn (python3 bench/chart.py docs/bench.tsv docs/bench.svg) without measuring again.
results=docs/bench.tsv
if [ -n "$hits_only" ]; then
  results=$(mktemp)
  trap 'rm -f "$results"' EXIT
fi
taskset -c 1 target/release/examples/bench --results "$results" "$@"
[ -z "$hits_only" ] || exit 0

echo
echo "## HTTP/2 hits (bench/tls.sh, h2 only)"
echo
if installed h2load && command -v openssl >/dev/null; then
  if [ -n "$quick" ]; then
    TLS_PROTOCOLS=h2 TLS_RESULTS="$results" bench/tls.sh 1 1
  else
    TLS_PROTOCOLS=h2 TLS_RESULTS="$results" bench/tls.sh 3 5
  fi
else
  echo "h2load or openssl is not installed: HTTP/2 is left out (the chart says not measured)"
fi

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
# The code measured differs from the commit named: say so in the chart's title.
git diff --quiet HEAD -- src examples tests/fake-appsignal Cargo.toml Cargo.lock 2>/dev/null || commit="$commit-dirty"
printf '# commit: %s\n# date: %s\n' "$commit" "$(date -u +%F)" >>"$results"
# A smoke run's figures are not measurements: the chart says so across its top.
[ -z "$quick" ] || printf '# quick: yes\n' >>"$results"
python3 bench/chart.py "$results" docs/bench.svg
echo
echo "chart: docs/bench.svg (from $results)"
