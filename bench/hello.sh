#!/usr/bin/env bash
# hello world: `towerkit serve` with the text app against a bare hyper
# hello-world, same load, same run. The two alternate in rounds, and the
# ratio is taken per round (neighbours in time share the machine's state),
# then the median over the rounds is reported.
#
#   bench/hello.sh [--quick]         (ROUNDS, DURATION, CONNECTIONS override)
source "$(dirname "$0")/lib.sh"

ROUNDS=${ROUNDS:-7}; DURATION=${DURATION:-5s}; CONNECTIONS=${CONNECTIONS:-64}
[ "${1:-}" = "--quick" ] && { ROUNDS=3; DURATION=2s; }

need wrk wrk
(cd "$ROOT" && cargo build --release -q -p towerkit --bin towerkit && cargo build --release -q -p towerkit-bench)

cat >"$OUT/hello.toml" <<'TOML'
[server]
listen = "127.0.0.1:0"

[app.main]
use = "text"
body = "hello\n"
TOML

run() { # run WHO: prints "REQS P50 P99 CPU_US"
  if [ "$1" = towerkit ]; then
    start towerkit env RUST_LOG=warn "$RELEASE/towerkit" serve "$OUT/hello.toml"
  else
    start bare-hyper "$RELEASE/bare-hyper" 127.0.0.1:0
  fi
  curl -sf "http://$ADDR/" >/dev/null
  taskset -c "$LOAD_CPUS" wrk -t1 -c"$CONNECTIONS" -d1s "http://$ADDR/" >/dev/null # warm-up
  load "http://$ADDR/" "$DURATION" "$CONNECTIONS"
  stop_all
}

: >"$OUT/hello.rounds"
for round in $(seq 1 "$ROUNDS"); do
  read -r h_reqs h_p50 h_p99 h_cpu < <(run bare-hyper)
  read -r t_reqs t_p50 t_p99 t_cpu < <(run towerkit)
  ratio=$(awk "BEGIN {printf \"%.3f\", $t_reqs / $h_reqs}")
  cpu_ratio=$(awk "BEGIN {printf \"%.3f\", $h_cpu / $t_cpu}")
  echo "round $round: bare hyper $h_reqs req/s (${h_cpu}µs CPU, p99 ${h_p99}ms) | towerkit $t_reqs req/s (${t_cpu}µs CPU, p99 ${t_p99}ms) | ratio $ratio"
  echo "$h_reqs $t_reqs $ratio $h_cpu $t_cpu $cpu_ratio $h_p50 $t_p50 $h_p99 $t_p99" >>"$OUT/hello.rounds"
done

col() { awk -v c="$1" '{print $c}' "$OUT/hello.rounds" | median; }
echo
echo "hello world: $CONNECTIONS connections, $ROUNDS rounds x $DURATION, medians (server on CPU $SERVER_CPUS, wrk -t1 on CPU $LOAD_CPUS)"
printf '  %-16s %10s req/s  %6s µs CPU/request  p50 %s ms  p99 %s ms\n' \
  "bare hyper" "$(col 1)" "$(col 4)" "$(col 7)" "$(col 9)" \
  "towerkit (text)" "$(col 2)" "$(col 5)" "$(col 8)" "$(col 10)"
echo "  ratio towerkit / bare hyper: requests/s $(col 3) (target >= 0.95), CPU efficiency $(col 6)"
