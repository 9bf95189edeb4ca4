#!/usr/bin/env bash
# Soak the release gateway under injected faults. Usage: bench/soak.sh [DURATION] [ARGS...]
# (default 10m); bench/soak.sh 10m --fleet 3 runs three replicas on one Redis that is
# killed, paused and restarted every 30 s.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
cargo run --release --quiet --example soak -- --duration "${1:-10m}" "${@:2}"
