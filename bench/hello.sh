#!/usr/bin/env bash
# hello world: `towerkit serve` with the text app against a bare hyper
# hello-world, same load, same run, alternating rounds. Prints the ratio.
#
#   bench/hello.sh [--quick]
source "$(dirname "$0")/lib.sh"

DURATION=10s; ROUNDS=3; CONNECTIONS=64
[ "${1:-}" = "--quick" ] && { DURATION=3s; ROUNDS=1; }

need wrk wrk
(cd "$ROOT" && cargo build --release -q -p towerkit --bin towerkit && cargo build --release -q -p towerkit-bench)

cat >"$OUT/hello.toml" <<'TOML'
[server]
listen = "127.0.0.1:0"

[app.main]
use = "text"
body = "hello\n"
TOML

declare -A best leanest
for round in $(seq 1 "$ROUNDS"); do
  for who in bare-hyper towerkit; do
    if [ "$who" = towerkit ]; then
      start towerkit env RUST_LOG=warn "$RELEASE/towerkit" serve "$OUT/hello.toml"
    else
      start bare-hyper "$RELEASE/bare-hyper" 127.0.0.1:0
    fi
    curl -sf "http://$ADDR/" >/dev/null
    taskset -c "$LOAD_CPUS" wrk -t1 -c"$CONNECTIONS" -d1s "http://$ADDR/" >/dev/null # warm-up
    read -r reqs p50 p99 cpu < <(load "http://$ADDR/" "$DURATION" "$CONNECTIONS")
    echo "round $round  $who: $reqs req/s  p50 ${p50}ms  p99 ${p99}ms  server CPU ${cpu}µs/request"
    if awk "BEGIN {exit !($reqs > ${best[$who]:-0})}"; then
      best[$who]=$reqs
    fi
    if awk "BEGIN {exit !($cpu < ${leanest[$who]:-1e9})}"; then
      leanest[$who]=$cpu
    fi
    stop_all
  done
done

ratio=$(awk "BEGIN {printf \"%.3f\", ${best[towerkit]} / ${best[bare-hyper]}}")
cpu_ratio=$(awk "BEGIN {printf \"%.3f\", ${leanest[bare-hyper]} / ${leanest[towerkit]}}")
echo
echo "hello world, $CONNECTIONS connections, best of $ROUNDS x $DURATION (wrk -t1 on CPU $LOAD_CPUS, server on CPU $SERVER_CPUS):"
echo "  bare hyper        ${best[bare-hyper]} req/s   ${leanest[bare-hyper]} µs CPU/request"
echo "  towerkit (text)   ${best[towerkit]} req/s   ${leanest[towerkit]} µs CPU/request"
echo "  ratio towerkit / bare hyper: requests/s $ratio (target >= 0.95); efficiency (bare CPU / towerkit CPU per request) $cpu_ratio"
