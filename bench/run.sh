#!/usr/bin/env bash
# The benchmark, end to end: installs wrk and nginx (apt; nginx's row is skipped if that
# fails), builds the release gateway and the bench programs, and prints the tables.
#   bench/run.sh            # the full run (about 100 s after the build; 2-3 min to build)
#   bench/run.sh --quick    # a few seconds: checks that it all still works
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null; then
  if command -v apt-get >/dev/null; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light) >/dev/null 2>&1 \
      || echo "note: could not install wrk/nginx with apt" >&2
  fi
fi
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
cargo build --release --quiet --bin appsignal-gateway --example ceiling --example bench
exec taskset -c 1 target/release/examples/bench "$@"
