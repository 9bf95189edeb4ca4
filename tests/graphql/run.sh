#!/usr/bin/env bash
# A real GraphQL client against the built binary: Apollo Client (from npm, versions pinned
# in package-lock.json) with its automatic-persisted-queries link reads incidents through
# `appsignal-gateway demo` (the simulated AppSignal, all on 127.0.0.1, free ports):
#   tests/graphql/run.sh
# The assertions are in apollo.test.mjs (node's test runner).
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=target/release/appsignal-gateway
[ -x "$bin" ] || cargo build --release --quiet --bin appsignal-gateway
(cd tests/graphql && npm ci --silent --no-audit --no-fund >/dev/null)
work=$(mktemp -d)
demo=
trap '[ -n "$demo" ] && kill "$demo" 2>/dev/null; rm -rf "$work"' EXIT

# Port 0 everywhere: the gateway's address is read from the banner the demo prints once
# it is serving (waited for, not slept for).
APPSIGNAL_GATEWAY_ADMIN_LISTEN=127.0.0.1:0 APPSIGNAL_GATEWAY_LOG__LEVEL=warn \
  "$bin" demo --listen 127.0.0.1:0 > "$work/demo.out" 2> "$work/demo.log" &
demo=$!
gateway=
while IFS= read -r line; do
  case "$line" in
    *"gateway: http://127.0.0.1:"*) gateway=${line##*gateway: }; break ;;
  esac
done < <(timeout 60 tail -n +1 -f "$work/demo.out")
kill $! 2>/dev/null || true   # the tail, no longer read
[ -n "$gateway" ] || { echo "the demo did not start:"; cat "$work/demo.out" "$work/demo.log"; exit 1; }
echo "-- Apollo Client against $gateway"
GATEWAY="$gateway" node --test --test-reporter=spec tests/graphql/apollo.test.mjs
if grep -Eq "demo-[0-9a-f]{16}" "$work/demo.log"; then
  echo "the demo's token reached a log line"; exit 1
fi
echo "graphql client checks: passed"
