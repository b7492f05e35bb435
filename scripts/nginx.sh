#!/usr/bin/env bash
# The front door (nginx, Debian's package) for make run, the tests and the benchmarks.
#   scripts/nginx.sh install   install nginx (and the brotli module when Debian has it) if missing
#   scripts/nginx.sh wrk       install wrk if missing (the front-door tests' load generator; `make test`)
#   scripts/nginx.sh render    write the config under $SURGE_NGINX_DIR and check it
#   scripts/nginx.sh run       render, then run nginx in the foreground (Procfile's `front`)
# Settings come from the environment (defaults: make run's ports).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
export PATH="$PATH:/usr/sbin"

install_wrk() {
  command -v wrk >/dev/null 2>&1 && return 0  # the front-door tests flood the lobby with it
  local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends wrk >/dev/null
}

install() {
  local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] && return 0
  echo "installing Debian's nginx for the front door"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends nginx-light >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    libnginx-mod-http-brotli-filter >/dev/null 2>&1 || echo "(no brotli module: gzip only)"
}

# A lane's `server` lines: $1 its web nodes (host:port, space-separated), $2 max_conns per node.
upstream_servers() {
  local nodes=($1) fails="max_fails=0" line=""
  [ "${#nodes[@]}" -gt 1 ] && fails="max_fails=1 fail_timeout=5s"
  for node in "${nodes[@]}"; do line+="server $node max_conns=$2 $fails; "; done
  echo "$line"
}

render() {
  export SURGE_NGINX_DIR="${SURGE_NGINX_DIR:-$ROOT/var/nginx}"
  export SURGE_FRONT_LISTEN="${SURGE_FRONT_LISTEN:-127.0.0.1:${PORT:-8000}}"
  export SURGE_LOBBY_UPSTREAM="${SURGE_LOBBY_UPSTREAM:-127.0.0.1:${LOBBY_PORT:-8001}}"
  export SURGE_BOOKING_UPSTREAM="${SURGE_BOOKING_UPSTREAM:-127.0.0.1:${BOOKING_PORT:-8002}}"
  export SURGE_STATIC_ROOT="${SURGE_STATIC_ROOT:-$ROOT/staticfiles}"
  export SURGE_ERRORS_DIR="$ROOT/deploy/nginx/errors"
  export SURGE_LOBBY_MAX_CONNS="${SURGE_LOBBY_MAX_CONNS:-4096}"
  export SURGE_BOOKING_MAX_CONNS="${SURGE_BOOKING_MAX_CONNS:-1024}"
  export SURGE_ARRIVALS_PER_IP="${SURGE_ARRIVALS_PER_IP:-5}"
  export SURGE_ARRIVALS_BURST="${SURGE_ARRIVALS_BURST:-30}"
  export SURGE_POLLS_PER_IP="${SURGE_POLLS_PER_IP:-10}"
  export SURGE_POLLS_BURST="${SURGE_POLLS_BURST:-40}"
  export SURGE_CONNS_PER_IP="${SURGE_CONNS_PER_IP:-64}"
  export SURGE_MICROCACHE_SECONDS="${SURGE_MICROCACHE_SECONDS:-2}"
  export SURGE_RETRY_AFTER="${SURGE_RETRY_AFTER:-5}"
  export SURGE_LOBBY_SERVERS; SURGE_LOBBY_SERVERS="$(upstream_servers "$SURGE_LOBBY_UPSTREAM" "$SURGE_LOBBY_MAX_CONNS")"
  export SURGE_BOOKING_SERVERS; SURGE_BOOKING_SERVERS="$(upstream_servers "$SURGE_BOOKING_UPSTREAM" "$SURGE_BOOKING_MAX_CONNS")"
  export SURGE_NGINX_WORKERS="${SURGE_NGINX_WORKERS:-auto}"
  # As many open files as this machine lets a process have; two per proxied connection.
  local files; files="$(ulimit -Hn)"; [ "$files" = unlimited ] && files=65536
  export SURGE_NGINX_FILES="$files" SURGE_NGINX_CONNECTIONS="$((files / 2))"
  # Local runs as root keep the workers root too, so they can use the private folders.
  if [ "$(id -u)" = 0 ]; then export SURGE_NGINX_USER="user root;"; else export SURGE_NGINX_USER=""; fi
  mkdir -p "$SURGE_NGINX_DIR"/{cache,tmp}
  local vars='${SURGE_NGINX_DIR} ${SURGE_FRONT_LISTEN} ${SURGE_LOBBY_SERVERS} ${SURGE_BOOKING_SERVERS}
    ${SURGE_STATIC_ROOT} ${SURGE_ERRORS_DIR} ${SURGE_LOBBY_MAX_CONNS} ${SURGE_BOOKING_MAX_CONNS}
    ${SURGE_ARRIVALS_PER_IP} ${SURGE_ARRIVALS_BURST} ${SURGE_POLLS_PER_IP} ${SURGE_POLLS_BURST}
    ${SURGE_CONNS_PER_IP} ${SURGE_MICROCACHE_SECONDS} ${SURGE_RETRY_AFTER} ${SURGE_NGINX_WORKERS} ${SURGE_NGINX_USER}
    ${SURGE_NGINX_FILES} ${SURGE_NGINX_CONNECTIONS}'
  envsubst "$vars" < "$ROOT/deploy/nginx/surge.conf.template" > "$SURGE_NGINX_DIR/surge.conf"
  envsubst "$vars" < "$ROOT/deploy/nginx/local.conf.template" > "$SURGE_NGINX_DIR/nginx.conf"
  : > "$SURGE_NGINX_DIR/modules.conf"
  : > "$SURGE_NGINX_DIR/brotli.conf"
  if [ -f /usr/lib/nginx/modules/ngx_http_brotli_filter_module.so ]; then
    echo "load_module /usr/lib/nginx/modules/ngx_http_brotli_filter_module.so;" > "$SURGE_NGINX_DIR/modules.conf"
    printf 'brotli on;\nbrotli_comp_level 5;\nbrotli_min_length 512;\nbrotli_types text/css application/javascript application/json image/svg+xml text/plain;\n' \
      > "$SURGE_NGINX_DIR/brotli.conf"
  fi
  nginx -q -t -p "$SURGE_NGINX_DIR" -c "$SURGE_NGINX_DIR/nginx.conf"
}

case "${1:-run}" in
  install) install ;;
  wrk) install_wrk ;;
  render) install; render ;;
  run) install; render; exec nginx -p "$SURGE_NGINX_DIR" -c "$SURGE_NGINX_DIR/nginx.conf" -g "daemon off;" ;;
  *) echo "usage: $0 install|wrk|render|run" >&2; exit 2 ;;
esac
