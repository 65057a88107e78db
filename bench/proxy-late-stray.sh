#!/usr/bin/env bash
# Responses delivered to the wrong client, towerkit's proxy against nginx
# proxy_pass (keepalive 32), both in front of the hostile upstream of
# tests/proxy_hostile.rs. Eight clients send 60 requests each, mixing
# plain GETs with one hostile case, and count the answers that are not
# their own (`X-For` names the request an answer is for):
# - "all at once": HEAD, 204 and 304 with bodies, over-long bodies and
#   CL+TE, the stray bytes in the same write as the response, or 250 ms
#   late for HEAD/204/304;
# - "over-long, late": a body longer than its length whose excess comes
#   250 ms later, after the connection may carry the next request: no
#   HTTP/1.1 client can tell those bytes from that request's answer.
#
#   bench/proxy-late-stray.sh
source "$(dirname "$0")/lib.sh"

need nginx nginx-light
(cd "$ROOT" && cargo build --release -q -p towerkit --bin towerkit)

sed -n '/^const HOSTILE: &str = r#"/,/^"#;/p' "$ROOT/tests/proxy_hostile.rs" | sed '1d;$d' >"$OUT/hostile.py"
UP_PORT=$(free_port)
python3 "$OUT/hostile.py" "$UP_PORT" >"$OUT/hostile.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$UP_PORT") 2>/dev/null && break; sleep 0.05; done

cat >"$OUT/late-stray.toml" <<TOML
[app.main]
use = "proxy"
upstream = "http://127.0.0.1:$UP_PORT/"
TOML
TK_PORT=$(free_port)
"$RELEASE/towerkit" serve "$OUT/late-stray.toml" --listen "127.0.0.1:$TK_PORT" >"$OUT/late-stray-towerkit.log" 2>&1 &
PIDS+=($!)
NGINX_PORT=$(free_port)
cat >"$OUT/late-stray-nginx.conf" <<NGINX
worker_processes 1;
pid $OUT/late-stray-nginx.pid;
error_log $OUT/late-stray-nginx-error.log;
events { worker_connections 256; }
http {
  access_log off;
  upstream backend { server 127.0.0.1:$UP_PORT; keepalive 32; }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
NGINX
nginx -c "$OUT/late-stray-nginx.conf" -g 'daemon off;' >/dev/null 2>&1 &
PIDS+=($!)
for port in "$TK_PORT" "$NGINX_PORT"; do
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
done

misdelivered() { # PORT CASE...: "WRONG of TOTAL (ERRORS errors)"
  python3 - "$@" <<'PY'
import http.client, sys, threading
port, cases = int(sys.argv[1]), sys.argv[2:]
wrong, errors, lock = [0], [0], threading.Lock()
def client(c):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for i in range(60):
        method, path = cases[(i + c) % len(cases)].split(" ")
        path += ("&" if "?" in path else "?") + "id=%d-%d" % (c, i)
        try:
            conn.request(method, path)
            response = conn.getresponse()
            body = response.read()
            tag = response.getheader("x-for")
            # Another request's answer, or the stray one (no tag, "WRONG");
            # a 5xx of the proxy's own is an error, not a misdelivery.
            if tag is None and response.status >= 500 and b"WRONG" not in body:
                outcome = errors
            elif tag != path:
                outcome = wrong
            else:
                outcome = None
        except Exception:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            outcome = errors
        if outcome is not None:
            with lock:
                outcome[0] += 1
threads = [threading.Thread(target=client, args=(c,)) for c in range(8)]
for t in threads: t.start()
for t in threads: t.join()
print("%d of %d (%d errors)" % (wrong[0], 8 * 60, errors[0]))
PY
}

AT_ONCE=("HEAD /head-stray" "HEAD /head-stray?late" "GET /204-stray" "GET /204-stray?late" "GET /304-stray"
  "GET /304-stray?late" "GET /overlong" "GET /cl-te" "GET /echo" "GET /echo")
LATE=("GET /overlong?late" "GET /echo" "GET /echo" "GET /echo")
echo "answers not the client's own (8 clients x 60 requests):"
echo "  all at once:      towerkit $(misdelivered "$TK_PORT" "${AT_ONCE[@]}"), nginx $(misdelivered "$NGINX_PORT" "${AT_ONCE[@]}")"
echo "  over-long, late:  towerkit $(misdelivered "$TK_PORT" "${LATE[@]}"), nginx $(misdelivered "$NGINX_PORT" "${LATE[@]}")"
