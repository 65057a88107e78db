#!/usr/bin/env bash
# Concurrency scaling: requests/s and p99 latency of towerkit's full stack
# (bench/full-stack.toml) and of bare hyper at 1, 10, 100 and 1,000
# connections, alternating at each step.
#
#   bench/scaling.sh [--quick]    (DURATION, STEPS override)
source "$(dirname "$0")/lib.sh"

DURATION=${DURATION:-5s}; STEPS=${STEPS:-"1 10 100 1000"}
[ "${1:-}" = "--quick" ] && DURATION=2s

need wrk wrk
(cd "$ROOT" && cargo build --release -q -p towerkit --bin towerkit && cargo build --release -q -p towerkit-bench)
# wrk and the servers need a descriptor per connection.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

run() { # run WHO CONNECTIONS: prints "REQS P50 P99 CPU_US"
  if [ "$1" = towerkit ]; then
    start towerkit env RUST_LOG=warn "$RELEASE/towerkit" serve "$BENCH_DIR/full-stack.toml"
  else
    start bare-hyper "$RELEASE/bare-hyper" 127.0.0.1:0
  fi
  taskset -c "$LOAD_CPUS" wrk -t1 -c"$2" -d1s "http://$ADDR/" >/dev/null
  load "http://$ADDR/" "$DURATION" "$2"
  stop_all
}

echo "concurrency scaling, ${DURATION} per step (server on CPU $SERVER_CPUS, wrk -t1 on CPU $LOAD_CPUS)"
echo
echo "| connections | bare hyper req/s | p99 ms | towerkit full stack req/s | p99 ms | ratio |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: |"
for c in $STEPS; do
  read -r b_reqs _ b_p99 _ < <(run bare-hyper "$c")
  read -r t_reqs _ t_p99 _ < <(run towerkit "$c")
  printf '| %s | %s | %s | %s | %s | %s |\n' "$c" "$b_reqs" "$b_p99" "$t_reqs" "$t_p99" \
    "$(awk "BEGIN {printf \"%.3f\", $t_reqs / $b_reqs}")"
done
