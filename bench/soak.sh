#!/usr/bin/env bash
# Soak the release gateway under injected faults. Usage: bench/soak.sh [DURATION] (default 10m).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
cargo run --release --quiet --example soak -- --duration "${1:-10m}"
