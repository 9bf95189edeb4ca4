#!/usr/bin/env bash
# The API description checked by tools no one here wrote, against the built binary:
#   tests/api/run.sh [EXAMPLES_PER_OPERATION]   (default 200; TESTING.md records a 10,000 run)
# 1. openapi-spec-validator: `appsignal-gateway openapi` is valid OpenAPI 3.1.
# 2. schemathesis: every operation of the served document, all checks, positive and
#    negative inputs, against the demo (the simulated AppSignal on loopback).
# 3. openapi-typescript + tsc: a client generated from the document type-checks a
#    dashboard snippet (dashboard.ts).
# 4. Redocly's linter (its recommended rules): zero errors and zero warnings, with
#    dashboard keys and without.
set -euo pipefail
cd "$(dirname "$0")/../.."
examples=${1:-200}
bin=target/release/appsignal-gateway
[ -x "$bin" ] || cargo build --release --quiet --bin appsignal-gateway
python3 -m pip install --quiet --disable-pip-version-check schemathesis openapi-spec-validator 2>/dev/null \
  || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages schemathesis openapi-spec-validator
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

echo "-- openapi-spec-validator"
printf 'upstream:\n  token: "not-a-real-token"\napps:\n  - id: "app1"\n    name: "blog"\n' > "$work/gateway.yaml"
"$bin" openapi --config "$work/gateway.yaml" > "$work/openapi.json"
openapi-spec-validator "$work/openapi.json"

echo "-- schemathesis ($examples examples per operation)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# Limits high enough that the fuzzer tests the routes, not the rate limiter. JSONP off:
# a JSONP request's errors are answered 200 by design (a browser runs a <script> only on
# 2xx), which a fuzzer's negative-data check reads as bad input accepted; with JSONP off
# the served document has no `callback` parameter. JSONP is covered by jsonp_props and
# the Chromium tests instead.
APPSIGNAL_GATEWAY_JSONP__ENABLED=false \
APPSIGNAL_GATEWAY_CLIENTS__RATE_LIMIT__PER_SECOND=1000000 APPSIGNAL_GATEWAY_CLIENTS__RATE_LIMIT__BURST=1000000 \
APPSIGNAL_GATEWAY_UPSTREAM__RATE_LIMIT__PER_SECOND=1000000 APPSIGNAL_GATEWAY_UPSTREAM__RATE_LIMIT__BURST=1000000 \
APPSIGNAL_GATEWAY_LOG__LEVEL=warn \
  "$bin" demo --listen "127.0.0.1:$port" > "$work/demo.log" 2>&1 &
for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
# One worker: with two, hypothesis (describing a filter) and the other worker's thread can
# call `ast.parse` at once, which CPython 3.11 before 3.11.8 answers with "SystemError: AST
# constructor recursion depth mismatch" (its AST recursion counter is not per thread); more
# operations (the GraphQL routes) made that race show on every run.
schemathesis --config-file tests/api/schemathesis.toml run "http://127.0.0.1:$port/openapi.json" \
  --phases examples,coverage,fuzzing --mode all --max-examples "$examples" \
  --generation-deterministic --request-timeout 10 --workers 1

echo "-- openapi-typescript and tsc"
cp tests/api/dashboard.ts "$work/"
(cd "$work" && npm init -y >/dev/null && npm install --silent --no-audit --no-fund openapi-typescript@7 typescript@5 >/dev/null \
  && npx openapi-typescript openapi.json -o gateway.d.ts >/dev/null \
  && npx tsc --noEmit --strict --target es2022 --lib es2022,dom --module es2022 --moduleResolution bundler dashboard.ts)
echo "-- redocly lint (recommended rules; no errors, no warnings), without keys and with"
printf 'apps:\n  - id: "app1"\n    name: "blog"\n' > "$work/nokeys.yaml"
"$bin" openapi --config "$work/nokeys.yaml" > "$work/openapi-nokeys.json"
printf 'clients:\n  keys:\n    - name: "ops"\n      sha256: "%s"\n' "$(printf '%064d' 0)" >> "$work/nokeys.yaml"
"$bin" openapi --config "$work/nokeys.yaml" > "$work/openapi-keys.json"
(cd "$work" && npm install --silent --no-audit --no-fund @redocly/cli@1.34.5 >/dev/null)
for doc in openapi-nokeys.json openapi-keys.json; do
  (cd "$work" && npx redocly lint --format=json "$doc" > "$doc.lint" 2>/dev/null) || true
  python3 - "$work/$doc.lint" "$doc" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
totals = report["totals"]
for problem in report["problems"]:
    print(f'  {problem["severity"]}: {problem["ruleId"]}: {problem["message"]}')
print(f'{sys.argv[2]}: {totals["errors"]} errors, {totals["warnings"]} warnings')
sys.exit(1 if totals["errors"] or totals["warnings"] else 0)
PY
done
echo "api checks: passed"
