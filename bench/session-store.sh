#!/usr/bin/env bash
# Session store: the p99 of `GET /` (a request that does not use its
# session) with the memory store empty, then full (100,000 sessions, its
# default capacity), on the same server in the same run. All along, one
# client logs in at about 1,000 a second (a request that makes a new
# session each time), so that a full store evicts a session on each of
# them: that is where a store that sorts itself when full holds everyone
# up. Between the two, wrk fills the store to capacity through the same
# request.
#
# With BASE_OWN naming an `own_factories` binary built from an older commit,
# the same rounds run against it too ("base"), so that a change is measured
# against its base in one run.
#
#   bench/session-store.sh [--quick]   (ROUNDS, DURATION, CONNECTIONS, CAPACITY, BASE_OWN override)
source "$(dirname "$0")/lib.sh"

ROUNDS=${ROUNDS:-3}; DURATION=${DURATION:-5s}; CONNECTIONS=${CONNECTIONS:-64}
CAPACITY=${CAPACITY:-100000}
[ "${1:-}" = "--quick" ] && { ROUNDS=1; DURATION=2s; }
CONTENDERS="towerkit"
[ -n "${BASE_OWN:-}" ] && CONTENDERS="towerkit base"

need wrk wrk
(cd "$ROOT" && cargo build --release -q -p towerkit --example own_factories)
OWN="$RELEASE/examples/own_factories"

{
  printf '[server]\nlisten = "127.0.0.1:0"\n[pipeline.main]\npipeline = ["sessions", "demo"]\n'
  printf '[filter.sessions]\nuse = "session"\nstore = "memory"\n'
  # Left out at the default: a base binary may predate the option.
  [ "$CAPACITY" = 100000 ] || printf 'capacity = %s\n' "$CAPACITY"
  printf '[app.demo]\nuse = "session-demo"\n'
} >"$OUT/session-store.toml"

# The logins: one connection, a new session per request (no cookie is sent
# back), a millisecond between them.
cat >"$OUT/session-store-logins.lua" <<'LUA'
delay = function() return 1 end
LUA

# logins_start DURATION: starts the logins in the background (LOGINS_PID,
# output in $OUT/session-store-logins.out).
logins_start() {
  taskset -c "$LOAD_CPUS" wrk -t1 -c1 -d"$1" -s "$OUT/session-store-logins.lua" \
    "http://$ADDR/count" >"$OUT/session-store-logins.out" 2>&1 &
  LOGINS_PID=$!
}
# logins_wait: waits for them; prints "REQUESTS RATE".
logins_wait() {
  wait "$LOGINS_PID"
  awk '/requests in/ {n = $1} /^Requests\/sec/ {r = $2} END {print n, r}' "$OUT/session-store-logins.out"
}

# fill COUNT: makes COUNT sessions with wrk (-c16), a second at a time, each
# run stopped after the sessions still to make.
fill() {
  local left=$1 made
  while [ "$left" -gt 0 ]; do
    printf 'local n = 0\nresponse = function() n = n + 1; if n >= %d then wrk.thread:stop() end end\n' \
      "$left" >"$OUT/session-store-fill.lua"
    made=$(taskset -c "$LOAD_CPUS" wrk -t1 -c16 -d1s -s "$OUT/session-store-fill.lua" "http://$ADDR/count" \
      | awk '/requests in/ {print $1}')
    left=$((left - made))
  done
}

# run WHO: one server, empty then full; prints
# "EMPTY_REQS EMPTY_P50 EMPTY_P99 EMPTY_LOGINS/S FULL_REQS FULL_P50 FULL_P99 FULL_LOGINS/S"
run() {
  local bin=$OWN
  [ "$1" = base ] && bin=$BASE_OWN
  start "session-store-$1" env RUST_LOG=warn "$bin" serve "$OUT/session-store.toml"
  curl -sf "http://$ADDR/anything" >/dev/null
  local empty full made rate
  logins_start "$DURATION"
  empty=$(load "http://$ADDR/anything" "$DURATION" "$CONNECTIONS")
  read -r made rate < <(logins_wait)
  empty="$(echo "$empty" | cut -d' ' -f1-3) $rate"
  fill $((CAPACITY - made))
  logins_start "$DURATION"
  full=$(load "http://$ADDR/anything" "$DURATION" "$CONNECTIONS")
  read -r made rate < <(logins_wait)
  full="$(echo "$full" | cut -d' ' -f1-3) $rate"
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  echo "$empty $full"
}

: >"$OUT/session-store.rounds"
for round in $(seq 1 "$ROUNDS"); do
  line=""
  for who in $CONTENDERS; do
    line="$line $(run "$who")"
  done
  echo "round $round:$line"
  echo "$line" >>"$OUT/session-store.rounds"
done
col() { awk -v c="$1" '{print $c}' "$OUT/session-store.rounds" | median; }
echo
echo "session store: GET /anything (no session) with wrk -c$CONNECTIONS, $ROUNDS rounds x $DURATION, medians;"
echo "one client logging in (a new session a request, 1 ms apart) all along; full = $CAPACITY sessions (the capacity)"
echo "| server | store | GET req/s | p50 ms | p99 ms | logins/s |"
echo "| --- | --- | ---: | ---: | ---: | ---: |"
i=0
for who in $CONTENDERS; do
  for store in empty full; do
    base=$((i * 4))
    echo "| $who | $store | $(col $((base + 1))) | $(col $((base + 2))) | $(col $((base + 3))) | $(col $((base + 4))) |"
    i=$((i + 1))
  done
done
