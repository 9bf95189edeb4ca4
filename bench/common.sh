# Shared by the bench/*.sh scripts (sourced, not run).

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

# Writes $1/nginx/nginx.conf: nginx as a caching, token-adding HTTPS proxy (HTTP/2 and
# HTTP/1.1) on port $2 in front of an upstream on port $3, with the certificate
# $1/cert.pem and key $1/key.pem; one worker, no access log (bench/tls.sh, bench/h2.sh).
write_nginx_tls() {
  local dir=$1 nginx_port=$2 upstream=$3
  mkdir -p "$dir/nginx/cache"
  cat >"$dir/nginx/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $dir/nginx/nginx.pid;
error_log $dir/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 10000000;   # as the gateway: no limit per connection (h2load does not reconnect)
  client_body_temp_path $dir/nginx/body; proxy_temp_path $dir/nginx/proxy;
  fastcgi_temp_path $dir/nginx/fastcgi; uwsgi_temp_path $dir/nginx/uwsgi; scgi_temp_path $dir/nginx/scgi;
  proxy_cache_path $dir/nginx/cache levels=1:2 keys_zone=api:10m max_size=256m inactive=10m use_temp_path=off;
  upstream appsignal { server 127.0.0.1:$upstream; keepalive 32; }
  server {
    listen 127.0.0.1:$nginx_port ssl http2;
    ssl_certificate $dir/cert.pem;
    ssl_certificate_key $dir/key.pem;
    location /api/ {
      proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_pass http://appsignal\$uri?\$args&token=bench-token;
      proxy_cache api; proxy_cache_key \$uri?\$args; proxy_cache_valid 200 1h; proxy_cache_lock on;
      add_header Cache-Status \$upstream_cache_status;
    }
  }
}
NGINX
}

# Writes a self-signed P-256 certificate for localhost and 127.0.0.1 to $1/cert.pem, its key
# to $1/key.pem.
write_cert() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$1/key.pem" -out "$1/cert.pem" 2>/dev/null
}
