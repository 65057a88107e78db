#!/usr/bin/env bash
# hello world, every contender in the same run: bare hyper (the limit),
# `towerkit serve` with the text app, towerkit's full demo stack
# (bench/full-stack.toml), the same stack built from axum + tower-http +
# tower-sessions (bench/peers/axum-stack), and the WSGI original: Paste's
# middleware under gunicorn (bench/peers/paste). The contenders alternate in
# rounds; each ratio is taken per round against bare hyper of the same round
# (neighbours in time share the machine's state), and medians are reported.
#
# With BASE_BIN naming a towerkit binary built from an older commit, the
# contender towerkit-full-base runs the same full stack on it, so that a
# change is measured against its base in one run.
#
#   bench/hello.sh [--quick]    (ROUNDS, DURATION, CONNECTIONS, CONTENDERS, BASE_BIN override)
source "$(dirname "$0")/lib.sh"

ROUNDS=${ROUNDS:-5}; DURATION=${DURATION:-5s}; CONNECTIONS=${CONNECTIONS:-64}
[ "${1:-}" = "--quick" ] && { ROUNDS=1; DURATION=2s; }
CONTENDERS=${CONTENDERS:-"towerkit-text towerkit-full axum-stack paste"}
[ -n "${BASE_BIN:-}" ] && [[ " $CONTENDERS " != *" towerkit-full-base "* ]] && CONTENDERS="$CONTENDERS towerkit-full-base"

need wrk wrk
(cd "$ROOT" && cargo build --release -q -p towerkit --bin towerkit && cargo build --release -q -p towerkit-bench)
if [[ " $CONTENDERS " == *" axum-stack "* ]]; then
  (cd "$BENCH_DIR/peers/axum-stack" && CARGO_TARGET_DIR="$ROOT/target/peers" cargo build --release -q)
fi
if [[ " $CONTENDERS " == *" paste "* ]]; then
  python3 -m pip install --quiet --disable-pip-version-check -r "$BENCH_DIR/peers/paste/requirements.txt" 2>/dev/null
fi

cat >"$OUT/hello.toml" <<'TOML'
[server]
listen = "127.0.0.1:0"
[app.main]
use = "text"
body = "hello\n"
TOML

# run WHO: prints "REQS P50 P99 CPU_US PEAK_RSS_KB"
run() {
  case "$1" in
    bare-hyper) start bare-hyper "$RELEASE/bare-hyper" 127.0.0.1:0 ;;
    towerkit-text) start towerkit env RUST_LOG=warn "$RELEASE/towerkit" serve "$OUT/hello.toml" ;;
    towerkit-full) start towerkit env RUST_LOG=warn "$RELEASE/towerkit" serve "$BENCH_DIR/full-stack.toml" ;;
    towerkit-full-base) start towerkit-base env RUST_LOG=warn "$BASE_BIN" serve "$BENCH_DIR/full-stack.toml" ;;
    axum-stack) start axum-stack "$ROOT/target/peers/release/axum-stack-peer" 127.0.0.1:0 ;;
    paste)
      local port; port=$(free_port)
      # One process, as every other contender gets one core.
      (cd "$BENCH_DIR/peers/paste" && exec gunicorn -w 1 -k gthread --threads 8 -b "127.0.0.1:$port" app:app) >"$OUT/paste.log" 2>&1 &
      PIDS+=($!); SERVER_PID=$!
      for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.05; done
      taskset -a -cp "$SERVER_CPUS" "$SERVER_PID" >/dev/null
      for child in $(pgrep -P "$SERVER_PID"); do taskset -a -cp "$SERVER_CPUS" "$child" >/dev/null; done
      ADDR="127.0.0.1:$port" ;;
  esac
  curl -sf "http://$ADDR/" >/dev/null
  taskset -c "$LOAD_CPUS" wrk -t1 -c"$CONNECTIONS" -d1s "http://$ADDR/" >/dev/null # warm-up
  local result; result=$(load "http://$ADDR/" "$DURATION" "$CONNECTIONS")
  echo "$result $(peak_rss_tree "$SERVER_PID")"
  stop_all
}

: >"$OUT/hello.rounds"
for round in $(seq 1 "$ROUNDS"); do
  read -r b_reqs b_p50 b_p99 b_cpu b_rss < <(run bare-hyper)
  echo "bare-hyper $b_reqs $b_p50 $b_p99 $b_cpu $b_rss 1" >>"$OUT/hello.rounds"
  line="round $round: bare hyper $b_reqs"
  for who in $CONTENDERS; do
    read -r reqs p50 p99 cpu rss < <(run "$who")
    ratio=$(awk "BEGIN {printf \"%.3f\", $reqs / $b_reqs}")
    echo "$who $reqs $p50 $p99 $cpu $rss $ratio" >>"$OUT/hello.rounds"
    line="$line | $who $reqs ($ratio)"
  done
  echo "$line"
done

col() { awk -v who="$1" -v c="$2" '$1 == who {print $c}' "$OUT/hello.rounds" | median; }
echo
echo "hello world: $CONNECTIONS connections, $ROUNDS rounds x $DURATION, medians (server on CPU $SERVER_CPUS, wrk -t1 on CPU $LOAD_CPUS)"
echo
echo "| contender | requests/s | p50 ms | p99 ms | server CPU µs/request | peak RSS MB | ratio to bare hyper |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for who in bare-hyper $CONTENDERS; do
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$who" "$(col "$who" 2)" "$(col "$who" 3)" "$(col "$who" 4)" \
    "$(col "$who" 5)" "$(awk "BEGIN {printf \"%.1f\", $(col "$who" 6) / 1024}")" "$(col "$who" 7)"
done
# Ratios between contenders, per round, for the targets.
pair() { # pair A B: median over rounds of A/B
  awk -v a="$1" -v b="$2" '$1 == a {x[++i] = $2} $1 == b {y[++j] = $2} END {for (k = 1; k <= i; k++) print x[k] / y[k]}' "$OUT/hello.rounds" | median
}
echo
[[ " $CONTENDERS " == *" towerkit-full "* ]] && echo "towerkit full stack / bare hyper: $(col towerkit-full 7) (target >= 0.95)"
[[ " $CONTENDERS " == *" towerkit-full axum-stack "* || " $CONTENDERS " == *" axum-stack "* ]] && \
  echo "towerkit full stack / axum stack: $(printf '%.3f' "$(pair towerkit-full axum-stack)") (target >= 1.0)"
[[ " $CONTENDERS " == *" paste "* ]] && \
  echo "towerkit full stack / Paste under gunicorn: $(printf '%.1f' "$(pair towerkit-full paste)") (target >= 20)"
true
