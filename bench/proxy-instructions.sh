#!/usr/bin/env bash
# Instructions per proxied request, counted by callgrind: `towerkit serve`
# with a proxy app in front of bare-hyper, N keep-alive GETs from one
# client, minus a run with none (start-up and shutdown), divided by N.
# With BASE_BIN, the same for another build (a base in a worktree of its
# own: `git worktree add ../base REV`, `cargo build --release` there).
#
#   [BASE_BIN=../base/target/release/towerkit] bench/proxy-instructions.sh
source "$(dirname "$0")/lib.sh"

REQUESTS=${REQUESTS:-5000}
need valgrind valgrind
(cd "$ROOT" && cargo build --release -q -p towerkit --bin towerkit && cargo build --release -q -p towerkit-bench)

UP_PORT=$(free_port)
"$RELEASE/bare-hyper" "127.0.0.1:$UP_PORT" >"$OUT/upstream.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$UP_PORT") 2>/dev/null && break; sleep 0.05; done
cat >"$OUT/proxy-instructions.toml" <<TOML
[app.main]
use = "proxy"
upstream = "http://127.0.0.1:$UP_PORT/"
TOML

# instructions BIN N: the instructions callgrind counted in a whole run of
# BIN that served N requests.
instructions() {
  local bin=$1 n=$2 port out
  port=$(free_port)
  out="$OUT/callgrind.proxy.$n"
  valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" serve "$OUT/proxy-instructions.toml" \
    --listen "127.0.0.1:$port" >"$OUT/callgrind.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 600); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  python3 - "$port" "$n" <<'PY'
import http.client, sys
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
for _ in range(int(sys.argv[2])):
    conn.request("GET", "/")
    response = conn.getresponse()
    response.read()
    assert response.status == 200, response.status
PY
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  awk '/^(summary|totals):/ {print $2; exit}' "$out"
}

per_request() {
  local bin=$1 none many
  none=$(instructions "$bin" 0)
  many=$(instructions "$bin" "$REQUESTS")
  awk "BEGIN {printf \"%.0f\", ($many - $none) / $REQUESTS}"
}

echo "instructions per proxied request (callgrind, $REQUESTS keep-alive GETs, one client):"
echo "  this build: $(per_request "$RELEASE/towerkit")"
if [ -n "${BASE_BIN:-}" ]; then
  echo "  base ($BASE_BIN): $(per_request "$BASE_BIN")"
fi
