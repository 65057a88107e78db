#!/usr/bin/env bash
# What a normal client sees while every connection slot is held by a client
# trickling a request body (one byte every 3 s, far below the 500 B/s the
# server asks for after 20 s): the p50/p99 latency of GET / on a fresh
# connection each time (wrk with Connection: close, so that every request
# waits for a slot as a new visitor would), with and without the attack,
# against this build and, when BASE_BIN names an older towerkit binary,
# against that one in the same run.
#
#   bench/slow-clients.sh [--quick]    (SLOTS, DURATION, BASE_BIN override)
source "$(dirname "$0")/lib.sh"

SLOTS=${SLOTS:-256}; DURATION=${DURATION:-30s}
[ "${1:-}" = "--quick" ] && { SLOTS=64; DURATION=25s; }
need wrk wrk
(cd "$ROOT" && cargo build --release -q -p towerkit --bin towerkit)

cat >"$OUT/slow-clients.toml" <<TOML
[server]
listen = "127.0.0.1:0"
max_connections = $SLOTS

[composite.main]
use = "urlmap"
"/" = "home"
"/echo" = "echo"

[app.home]
use = "text"
body = "hello\n"

[app.echo]
use = "echo"
TOML

# run WHO BINARY ATTACK(yes|no): prints "REQS P50 P99 ERRORS"
run() {
  start "$1" env RUST_LOG=error "$2" serve "$OUT/slow-clients.toml"
  local attack_pid=""
  if [ "$3" = yes ]; then
    taskset -c "$LOAD_CPUS" python3 "$BENCH_DIR/attack/slow_body.py" "$ADDR" /echo/ "$SLOTS" 3 \
      "$(( ${DURATION%s} + 5 ))" >"$OUT/slow-attack-$1.log" 2>&1 &
    attack_pid=$!
    sleep 3 # every slot taken
  fi
  local out
  out=$(taskset -c "$LOAD_CPUS" wrk --latency -t1 -c4 -d"$DURATION" --timeout 60s \
    -H "Connection: close" "http://$ADDR/")
  [ -n "$attack_pid" ] && wait "$attack_pid"
  local reqs p50 p99 errors
  reqs=$(echo "$out" | awk '/requests in/ {print $1}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  errors=$(echo "$out" | awk '/Socket errors/ {print $0}' | tr -d ',' | awk '{print $4+$6+$8+$10}')
  echo "${reqs:-0} $(to_ms "${p50:-0ms}") $(to_ms "${p99:-0ms}") ${errors:-0}"
  stop_all
}

echo "slow-body attack: $SLOTS slots, each held by a POST trickling 1 byte / 3 s; a normal client: wrk -c4 -d$DURATION, Connection: close"
echo
echo "| server | attack | requests served | p50 ms | p99 ms | wrk socket errors |"
echo "| --- | --- | ---: | ---: | ---: | ---: |"
contenders=("towerkit:$RELEASE/towerkit")
[ -n "${BASE_BIN:-}" ] && contenders+=("towerkit-base:$BASE_BIN")
for contender in "${contenders[@]}"; do
  who=${contender%%:*}; bin=${contender#*:}
  for attack in no yes; do
    read -r reqs p50 p99 errors < <(run "$who" "$bin" "$attack")
    echo "| $who | $attack | $reqs | $p50 | $p99 | $errors |"
  done
done
for log in "$OUT"/slow-attack-*.log; do echo "$(basename "$log" .log): $(cat "$log")"; done
