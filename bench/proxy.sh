#!/usr/bin/env bash
# The reverse proxy: requests/s through `towerkit serve` with a proxy app,
# against the upstream hit directly and against nginx proxy_pass (keep-alive
# to the upstream), same upstream (bare-hyper), same run, alternating rounds.
# Then the same two proxies to a TLS upstream (nginx with a certificate from
# a private CA, HTTP/1.1, `return 200`), also alternating.
# The proxy under test gets CPU 0; the upstream and wrk share CPU 1 (the same
# for every contender). The load core's own time per request is reported
# too: it bounds what any proxy can reach on this layout.
#
#   bench/proxy.sh [--quick]        (ROUNDS, DURATION override)
source "$(dirname "$0")/lib.sh"

ROUNDS=${ROUNDS:-3}; DURATION=${DURATION:-5s}; CONNECTIONS=${CONNECTIONS:-64}
[ "${1:-}" = "--quick" ] && { ROUNDS=1; DURATION=2s; }

need wrk wrk
need nginx nginx-light
(cd "$ROOT" && cargo build --release -q -p towerkit --bin towerkit && cargo build --release -q -p towerkit-bench)

UP_PORT=$(free_port)
taskset -c "$LOAD_CPUS" "$RELEASE/bare-hyper" "127.0.0.1:$UP_PORT" >"$OUT/upstream.log" 2>&1 &
PIDS+=($!)
UPSTREAM_PID=$!
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$UP_PORT") 2>/dev/null && break; sleep 0.05; done

cat >"$OUT/proxy.toml" <<TOML
[server]
listen = "127.0.0.1:0"
[app.main]
use = "proxy"
upstream = "http://127.0.0.1:$UP_PORT/"
TOML

stop_servers() {
  local keep=()
  for pid in "${PIDS[@]}"; do
    if [ "$pid" = "$UPSTREAM_PID" ]; then keep+=("$pid"); else kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  done
  PIDS=("${keep[@]}")
}

run() {
  case "$1" in
    direct) ADDR="127.0.0.1:$UP_PORT"; SERVER_PID=$UPSTREAM_PID ;;
    towerkit) start towerkit env RUST_LOG=warn "$RELEASE/towerkit" serve "$OUT/proxy.toml" ;;
    towerkit-tls) start towerkit-tls env RUST_LOG=warn "$RELEASE/towerkit" serve "$OUT/proxy-tls.toml" ;;
    nginx-tls)
      local port; port=$(free_port)
      cat >"$OUT/nginx-proxy-tls.conf" <<NGINX
worker_processes 1;
pid $OUT/nginx-proxy-tls.pid;
error_log $OUT/nginx-proxy-tls-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  upstream backend { server 127.0.0.1:$TLS_PORT; keepalive 64; }
  server {
    listen 127.0.0.1:$port;
    location / {
      proxy_pass https://backend; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_ssl_server_name on; proxy_ssl_name localhost; proxy_ssl_session_reuse on;
      proxy_ssl_verify on; proxy_ssl_trusted_certificate $OUT/tls-ca.pem;
    }
  }
}
NGINX
      start_port nginx-tls "$port" nginx -c "$OUT/nginx-proxy-tls.conf" -g 'daemon off;' ;;
    nginx)
      local port; port=$(free_port)
      cat >"$OUT/nginx-proxy.conf" <<NGINX
worker_processes 1;
pid $OUT/nginx-proxy.pid;
error_log $OUT/nginx-proxy-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  upstream backend { server 127.0.0.1:$UP_PORT; keepalive 64; }
  server {
    listen 127.0.0.1:$port;
    location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
NGINX
      start_port nginx "$port" nginx -c "$OUT/nginx-proxy.conf" -g 'daemon off;' ;;
  esac
  curl -sf "http://$ADDR/" >/dev/null
  local busy0 total0 busy1 total1
  read -r busy0 total0 < <(core_ticks "$LOAD_CPUS")
  read -r reqs _ p99 cpu < <(load "http://$ADDR/" "$DURATION" "$CONNECTIONS")
  read -r busy1 total1 < <(core_ticks "$LOAD_CPUS")
  stop_servers
  # The load core's time per request (wrk, the upstream and the kernel's
  # work for both), and how busy that core was.
  echo "$reqs $p99 $cpu $(awk "BEGIN {f = ($busy1 - $busy0) / ($total1 - $total0); printf \"%.2f %.0f\", f * 1000000 / $reqs, f * 100}")"
}

: >"$OUT/proxy.rounds"
for round in $(seq 1 "$ROUNDS"); do
  read -r d d99 _ dload dbusy < <(run direct)
  read -r t t99 tcpu tload tbusy < <(run towerkit)
  read -r n n99 ncpu nload nbusy < <(run nginx)
  echo "round $round: direct $d, towerkit $t (p99 ${t99}ms, ${tcpu}us CPU/req), nginx $n (p99 ${n99}ms, ${ncpu}us CPU/req);" \
    "load core ${dload}/${tload}/${nload}us per request, ${dbusy}/${tbusy}/${nbusy}% busy"
  echo "$d $t $n $tcpu $ncpu $dload $tload $nload" >>"$OUT/proxy.rounds"
done
col() { awk -v c="$1" '{print $c}' "$OUT/proxy.rounds" | median; }
# The median of the rounds' own ratios: each round's contenders ran back to
# back, so a round that the machine slowed down slows all of them.
ratio_of() { awk -v a="$1" -v b="$2" '{printf "%.3f\n", $a / $b}' "$OUT/proxy.rounds" | median; }
echo
echo "reverse proxy: $ROUNDS rounds x $DURATION, wrk -c$CONNECTIONS, medians (req/s)"
echo "  upstream direct $(col 1), towerkit proxy $(col 2), nginx proxy_pass $(col 3)"
echo "  CPU per request of the proxy (its process tree): towerkit $(col 4) us, nginx $(col 5) us"
echo "  medians of the rounds' ratios:"
echo "  towerkit / direct x$(ratio_of 2 1) (target >= 0.8), towerkit / nginx x$(ratio_of 2 3) (target >= 1.0), CPU per request nginx / towerkit x$(ratio_of 5 4)"
# What the layout allows: the load core also runs the upstream, and behind a
# proxy it spends more per request (its wakeups now come from the other
# core, the more so the less the proxy batches). At the cost it had in a
# run, that core alone allowed at most 1 / (its time per request) requests/s;
# the share of direct below is that bound, per run. A proxy moves it only
# through how it wakes that core.
cap_of() { awk -v l="$1" '{printf "%.3f\n", 1000000 / $l / $1}' "$OUT/proxy.rounds" | median; }
echo "  load core (wrk + upstream) per request: direct $(col 6) us, via towerkit $(col 7) us, via nginx $(col 8) us;" \
  "at those costs it alone allows x$(cap_of 7) of direct in towerkit's runs, x$(cap_of 8) in nginx's"

# The plain upstream is done: stopped here, by the shell that started it (a
# round's subshell waiting on it would wait for its own child instead).
kill "$UPSTREAM_PID" 2>/dev/null || true
wait "$UPSTREAM_PID" 2>/dev/null || true
PIDS=()

# The TLS upstream: nginx on the load core, a certificate for localhost
# from a private CA that both proxies check.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=bench-ca -keyout "$OUT/tls-ca.key" -out "$OUT/tls-ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout "$OUT/tls.key" -out "$OUT/tls.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n' >"$OUT/tls.ext"
openssl x509 -req -in "$OUT/tls.csr" -CA "$OUT/tls-ca.pem" -CAkey "$OUT/tls-ca.key" -CAcreateserial -days 2 -extfile "$OUT/tls.ext" -out "$OUT/tls.pem" 2>/dev/null
TLS_PORT=$(free_port)
cat >"$OUT/tls-upstream.conf" <<NGINX
worker_processes 1;
pid $OUT/tls-upstream.pid;
error_log $OUT/tls-upstream-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$TLS_PORT ssl;
    ssl_certificate $OUT/tls.pem; ssl_certificate_key $OUT/tls.key;
    keepalive_requests 1000000;
    location / { return 200 "Hello, World!"; }
  }
}
NGINX
taskset -c "$LOAD_CPUS" nginx -c "$OUT/tls-upstream.conf" -g 'daemon off;' >"$OUT/tls-upstream.log" 2>&1 &
PIDS+=($!)
# The rounds below stop all but this upstream.
UPSTREAM_PID=$!
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$TLS_PORT") 2>/dev/null && break; sleep 0.05; done
cat >"$OUT/proxy-tls.toml" <<TOML
[server]
listen = "127.0.0.1:0"
[app.main]
use = "proxy"
upstream = "https://localhost:$TLS_PORT/"
ca = "$OUT/tls-ca.pem"
TOML
: >"$OUT/proxy-tls.rounds"
for round in $(seq 1 "$ROUNDS"); do
  read -r t t99 tcpu _ < <(run towerkit-tls)
  read -r n n99 ncpu _ < <(run nginx-tls)
  echo "tls round $round: towerkit $t (p99 ${t99}ms, ${tcpu}us CPU/req), nginx $n (p99 ${n99}ms, ${ncpu}us CPU/req)"
  echo "$t $n $tcpu $ncpu" >>"$OUT/proxy-tls.rounds"
done
tcol() { awk -v c="$1" '{print $c}' "$OUT/proxy-tls.rounds" | median; }
echo
echo "reverse proxy to a TLS upstream (HTTP/1.1, kept alive): medians (req/s)"
echo "  towerkit $(tcol 1), nginx $(tcol 2); CPU per request towerkit $(tcol 3) us, nginx $(tcol 4) us;" \
  "towerkit / nginx x$(awk '{printf "%.3f\n", $1 / $2}' "$OUT/proxy-tls.rounds" | median)"
