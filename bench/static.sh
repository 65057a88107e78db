#!/usr/bin/env bash
# Static files: towerkit's static app against nginx and tower-http's
# ServeDir, same files, same load, same run, alternating rounds.
#   1 KB file:   requests/s with 64 connections
#   100 MB file: throughput with 4 connections
#
#   bench/static.sh [--quick]        (ROUNDS, DURATION override)
source "$(dirname "$0")/lib.sh"

ROUNDS=${ROUNDS:-3}; DURATION=${DURATION:-5s}
[ "${1:-}" = "--quick" ] && { ROUNDS=1; DURATION=2s; }

need wrk wrk
need nginx nginx-light
(cd "$ROOT" && cargo build --release -q -p towerkit --bin towerkit && cargo build --release -q -p towerkit-bench)

FILES="$OUT/static-files"
mkdir -p "$FILES"
head -c 1024 /dev/urandom >"$FILES/small.bin"
[ -s "$FILES/large.bin" ] || head -c $((100 * 1024 * 1024)) /dev/urandom >"$FILES/large.bin"

cat >"$OUT/static.toml" <<TOML
[server]
listen = "127.0.0.1:0"

[app.main]
use = "static"
root = "$FILES"
TOML

run() { # run WHO: starts WHO, loads it, prints "SMALL_REQS SMALL_CPU LARGE_MBPS"
  case "$1" in
    towerkit) start towerkit env RUST_LOG=warn "$RELEASE/towerkit" serve "$OUT/static.toml" ;;
    servedir) start servedir "$RELEASE/servedir" "$FILES" 127.0.0.1:0 ;;
    nginx)
      local port; port=$(free_port)
      cat >"$OUT/nginx.conf" <<NGINX
worker_processes 1;
pid $OUT/nginx.pid;
error_log $OUT/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  default_type application/octet-stream;
  server { listen 127.0.0.1:$port; root $FILES; }
}
NGINX
      start_port nginx "$port" nginx -c "$OUT/nginx.conf" -g 'daemon off;' ;;
  esac
  curl -sf "http://$ADDR/small.bin" -o /dev/null
  read -r reqs _ _ cpu < <(load "http://$ADDR/small.bin" "$DURATION" 64)
  load "http://$ADDR/large.bin" "$DURATION" 4 >/dev/null
  local mbps
  mbps=$(echo "$LAST_WRK" | awk '/^Transfer\/sec/ {v=$2; u=substr(v, length(v)-1); n=v+0; if (u=="GB") n*=1024; else if (u=="KB") n/=1024; print n}')
  stop_all
  echo "$reqs $cpu $mbps"
}

: >"$OUT/static.rounds"
for round in $(seq 1 "$ROUNDS"); do
  read -r n_reqs n_cpu n_mbps < <(run nginx)
  read -r s_reqs s_cpu s_mbps < <(run servedir)
  read -r t_reqs t_cpu t_mbps < <(run towerkit)
  echo "round $round: 1 KB req/s nginx $n_reqs, ServeDir $s_reqs, towerkit $t_reqs | 100 MB MB/s nginx $n_mbps, ServeDir $s_mbps, towerkit $t_mbps"
  echo "$n_reqs $s_reqs $t_reqs $n_mbps $s_mbps $t_mbps $n_cpu $s_cpu $t_cpu" >>"$OUT/static.rounds"
done
col() { awk -v c="$1" '{print $c}' "$OUT/static.rounds" | median; }
ratio() { awk "BEGIN {printf \"%.3f\", $1 / $2}"; }
echo
echo "static files: $ROUNDS rounds x $DURATION, medians (server on CPU $SERVER_CPUS, wrk -t1 on CPU $LOAD_CPUS)"
printf '  %-10s 1 KB: %10s req/s (%s µs CPU/req)   100 MB: %8s MB/s\n' \
  nginx "$(col 1)" "$(col 7)" "$(col 4)" ServeDir "$(col 2)" "$(col 8)" "$(col 5)" towerkit "$(col 3)" "$(col 9)" "$(col 6)"
echo "  towerkit / nginx:    1 KB $(ratio "$(col 3)" "$(col 1)") (target >= 0.8), 100 MB $(ratio "$(col 6)" "$(col 4)") (target >= 0.9)"
echo "  towerkit / ServeDir: 1 KB $(ratio "$(col 3)" "$(col 2)"), 100 MB $(ratio "$(col 6)" "$(col 5)") (target >= 1.0)"
