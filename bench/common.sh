# Shared by bench/instructions.sh and bench/compare.sh (sourced, not run).

# A free TCP port on 127.0.0.1.
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Writes a realistic 10-sample list to $1: the body every hit answers.
write_body() {
  python3 - "$1" <<'PY'
import json, sys
rows = [{"id": "5f2b%020d" % i, "action": "BlogPostsController#show", "duration": 12.5 + i,
         "status": 200, "time": 1700000000 + i, "is_exception": False} for i in range(10)]
open(sys.argv[1], "w").write(json.dumps(rows))
PY
}

# Writes to $1 a gateway configuration listening on port $2 in front of an upstream on
# port $3: one app (`blog`), limits out of the way, lists fresh for an hour.
write_config() {
  cat >"$1" <<YAML
listen: "127.0.0.1:$2"
admin_listen: "127.0.0.1:0"
upstream: {base_url: "http://127.0.0.1:$3", token: "bench-token", rate_limit: {per_second: 10000000, burst: 10000000}}
apps: [{id: "5114f7e38c5ce90000000011", name: "blog"}]
clients: {rate_limit: {per_second: 100000000, burst: 100000000}}
log: {level: "warn"}
cache: {ttl: {list: "${LIST_TTL:-1h}"}}
YAML
  # SHARED_REDIS_URL set: the same gateway as one replica of a fleet on that Redis.
  if [ -n "${SHARED_REDIS_URL:-}" ]; then
    printf 'shared: {redis_url: "%s"}\n' "$SHARED_REDIS_URL" >>"$1"
  fi
  # DASHBOARD_KEY set: keys are configured and every request presents this one.
  if [ -n "${DASHBOARD_KEY:-}" ]; then
    local digest
    digest=$(printf '%s' "$DASHBOARD_KEY" | sha256sum | cut -d' ' -f1)
    # A second `clients:` key would not be YAML: the one line above gains the keys.
    sed -i "s|^clients: {rate_limit: {per_second: 100000000, burst: 100000000}}|clients: {rate_limit: {per_second: 100000000, burst: 100000000}, keys: [{name: \"bench\", sha256: \"$digest\"}]}|" "$1"
  fi
}
