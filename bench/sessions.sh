#!/usr/bin/env bash
# Sessions: towerkit-session against no session layer (untouched), and a
# read+write-per-request handler on memory and on Redis against
# tower-sessions (bench/peers/tower-sessions) with its stores, same run,
# alternating rounds, one Redis for both.
#
#   bench/sessions.sh [--quick]        (ROUNDS, DURATION override)
source "$(dirname "$0")/lib.sh"

ROUNDS=${ROUNDS:-3}; DURATION=${DURATION:-5s}; CONNECTIONS=${CONNECTIONS:-64}
[ "${1:-}" = "--quick" ] && { ROUNDS=1; DURATION=2s; }

need wrk wrk
need redis-server redis-server
(cd "$ROOT" && cargo build --release -q -p towerkit --example own_factories)
(cd "$BENCH_DIR/peers/tower-sessions" && CARGO_TARGET_DIR="$ROOT/target/peers" cargo build --release -q)
OWN="$RELEASE/examples/own_factories"
PEER="$ROOT/target/peers/release/tower-sessions-peer"

REDIS_PORT=$(free_port)
taskset -c "$LOAD_CPUS" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no >"$OUT/redis.log" 2>&1 &
PIDS+=($!)
REDIS_PID=$!
for _ in $(seq 1 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"

stack() { # stack NAME PIPELINE SESSION_OPTIONS
  cat >"$OUT/sessions-$1.toml" <<TOML
[server]
listen = "127.0.0.1:0"
[pipeline.main]
pipeline = [$2]
[filter.sessions]
use = "session"
$3
[app.hello]
use = "text"
body = "hello\n"
[app.demo]
use = "session-demo"
TOML
}
stack plain '"hello"' ''
stack untouched '"sessions", "hello"' ''
stack memory '"sessions", "demo"' ''
stack redis '"sessions", "demo"' "store = \"redis\"
url = \"$REDIS_URL\""

# run CONTENDER PATH: starts it, gets a session cookie, loads PATH with it;
# prints "REQS CPU_US".
run() {
  case "$1" in
    towerkit-*) start "$1" env RUST_LOG=warn "$OWN" serve "$OUT/sessions-${1#towerkit-}.toml" ;;
    tower-sessions-memory) start "$1" "$PEER" memory 127.0.0.1:0 ;;
    tower-sessions-redis) start "$1" "$PEER" redis "$REDIS_URL" 127.0.0.1:0 ;;
  esac
  local cookie
  cookie=$(curl -s -c - -o /dev/null "http://$ADDR$2" | awk '!/^#/ || /^#HttpOnly_/ {if (NF == 7) print $6 "=" $7}' | head -1)
  read -r reqs _ _ cpu < <(WRK_HEADER="Cookie: $cookie" load "http://$ADDR$2" "$DURATION" "$CONNECTIONS")
  stop_all_servers
  echo "$reqs $cpu"
}

# Stops the servers but not Redis.
stop_all_servers() {
  local keep=()
  for pid in "${PIDS[@]}"; do
    if [ "$pid" = "$REDIS_PID" ]; then keep+=("$pid"); else kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  done
  PIDS=("${keep[@]}")
}

: >"$OUT/sessions.rounds"
for round in $(seq 1 "$ROUNDS"); do
  line=""
  for c in "towerkit-plain /x" "towerkit-untouched /x" "towerkit-memory /count" "tower-sessions-memory /count" "towerkit-redis /count" "tower-sessions-redis /count"; do
    read -r reqs cpu < <(run $c)
    line="$line $reqs $cpu"
  done
  echo "round $round:$line"
  echo "$line" >>"$OUT/sessions.rounds"
done
col() { awk -v c="$1" '{print $c}' "$OUT/sessions.rounds" | median; }
ratio() { awk "BEGIN {printf \"%.3f\", $1 / $2}"; }
echo
echo "sessions: $ROUNDS rounds x $DURATION, wrk -c$CONNECTIONS, medians (req/s)"
echo "  untouched session layer $(col 3) vs no session layer $(col 1): x$(ratio "$(col 3)" "$(col 1)") (target >= 0.98); server CPU per request $(col 4) vs $(col 2) µs: efficiency x$(ratio "$(col 2)" "$(col 4)")"
echo "  read+write, memory: towerkit $(col 5) vs tower-sessions $(col 7): x$(ratio "$(col 5)" "$(col 7)") (target >= 1.0); CPU $(col 6) vs $(col 8) µs"
echo "  read+write, Redis:  towerkit $(col 9) vs tower-sessions $(col 11): x$(ratio "$(col 9)" "$(col 11)") (target >= 1.0); CPU $(col 10) vs $(col 12) µs (server only; Redis not counted)"
