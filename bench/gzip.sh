#!/usr/bin/env bash
# gzip, three ways, in one run:
#  (a) in-process: towerkit-gzip against tower-http's CompressionLayer as it
#      ships (built apart, bench/peers/tower-http-gzip), same level, on a
#      1 MB JSON body and on 1,000 x 1 KB frames;
#  (b) end to end with wrk: 10 KB of JSON through `towerkit serve`, with and
#      without Accept-Encoding: gzip;
#  (c) server-sent events/s through gzip against plain (sse-bench).
#
#   bench/gzip.sh [--quick]        (ROUNDS, DURATION, LEVEL override)
source "$(dirname "$0")/lib.sh"

ROUNDS=${ROUNDS:-3}; DURATION=${DURATION:-5s}; LEVEL=${LEVEL:-4}
STREAMS=${STREAMS:-100}; EVENTS=${EVENTS:-2000}
[ "${1:-}" = "--quick" ] && { ROUNDS=1; DURATION=2s; EVENTS=500; }
export EVENTS

need wrk wrk
(cd "$ROOT" && cargo build --release -q -p towerkit --bin towerkit && cargo build --release -q -p towerkit-bench)
(cd "$BENCH_DIR/peers/tower-http-gzip" && CARGO_TARGET_DIR="$ROOT/target/peers" cargo build --release -q)
PEER="$ROOT/target/peers/release/tower-http-gzip-peer"
ratio() { awk "BEGIN {printf \"%.2f\", $1 / $2}"; }

echo "(a) in-process, level $LEVEL, $ROUNDS rounds (each the best of >= 5 runs in 2 s), on CPU $SERVER_CPUS"
: >"$OUT/gzip-a.rounds"
for round in $(seq 1 "$ROUNDS"); do
  taskset -c "$SERVER_CPUS" "$PEER" "$LEVEL" | grep '^RESULT' >>"$OUT/gzip-a.rounds"
  taskset -c "$SERVER_CPUS" "$RELEASE/gzip-compare" "$LEVEL" | grep '^RESULT' >>"$OUT/gzip-a.rounds"
done
for shape in whole frames; do
  tk=$(awk -v s=$shape '$2=="towerkit" && $3==s {print $4}' "$OUT/gzip-a.rounds" | median)
  th=$(awk -v s=$shape '$2=="tower-http" && $3==s {print $4}' "$OUT/gzip-a.rounds" | median)
  tkb=$(awk -v s=$shape '$2=="towerkit" && $3==s {print $5}' "$OUT/gzip-a.rounds" | median)
  thb=$(awk -v s=$shape '$2=="tower-http" && $3==s {print $5}' "$OUT/gzip-a.rounds" | median)
  name=$([ $shape = whole ] && echo "1 MB JSON body" || echo "1,000 x 1 KB frames")
  printf '  %-20s towerkit %6s MB/s %7s B | tower-http %6s MB/s %7s B | throughput x%s (target >= 1.5), bytes x%s (within 5%%)\n' \
    "$name" "$tk" "$tkb" "$th" "$thb" "$(ratio "$tk" "$th")" "$(ratio "$tkb" "$thb")"
done

echo "(b) end to end, 10 KB JSON, wrk -c64, $ROUNDS rounds x $DURATION"
mkdir -p "$OUT/gzip-files"
python3 -c "
import json; print(json.dumps([{'id': i, 'name': 'sensor %d' % (i % 97), 'room': ['kitchen','hall','garage','attic'][i % 4], 'value': i * 7 % 1000 + 0.5, 'ok': i % 3 != 0} for i in range(130)]))" >"$OUT/gzip-files/data.json"
cat >"$OUT/gzip.toml" <<TOML
[server]
listen = "127.0.0.1:0"
[pipeline.main]
pipeline = ["gzip", "files"]
[filter.gzip]
use = "gzip"
level = $LEVEL
[app.files]
use = "static"
root = "$OUT/gzip-files"
TOML
: >"$OUT/gzip-b.rounds"
for round in $(seq 1 "$ROUNDS"); do
  start towerkit env RUST_LOG=warn "$RELEASE/towerkit" serve "$OUT/gzip.toml"
  read -r plain _ _ plain_cpu < <(load "http://$ADDR/data.json" "$DURATION" 64)
  read -r gz _ _ gz_cpu < <(WRK_HEADER="Accept-Encoding: gzip" load "http://$ADDR/data.json" "$DURATION" 64)
  stop_all
  echo "$plain $gz $plain_cpu $gz_cpu" >>"$OUT/gzip-b.rounds"
done
col() { awk -v c="$1" '{print $c}' "$2" | median; }
echo "  $(wc -c <"$OUT/gzip-files/data.json") B of JSON: plain $(col 1 "$OUT/gzip-b.rounds") req/s ($(col 3 "$OUT/gzip-b.rounds") µs CPU/req), gzip $(col 2 "$OUT/gzip-b.rounds") req/s ($(col 4 "$OUT/gzip-b.rounds") µs CPU/req): x$(ratio "$(col 2 "$OUT/gzip-b.rounds")" "$(col 1 "$OUT/gzip-b.rounds")")"

echo "(c) server-sent events: $STREAMS streams x $EVENTS events, $ROUNDS rounds (server on CPU $SERVER_CPUS, client on CPU $LOAD_CPUS)"
: >"$OUT/gzip-c.rounds"
for round in $(seq 1 "$ROUNDS"); do
  line=""
  for mode in plain gzip; do
    flag=$([ $mode = gzip ] && echo --gzip || true)
    start "sse-$mode" env EVENTS="$EVENTS" "$RELEASE/sse-bench" serve $flag 127.0.0.1:0
    result=$(taskset -c "$LOAD_CPUS" "$RELEASE/sse-bench" client "http://$ADDR/" "$STREAMS" | grep '^RESULT')
    stop_all
    rate=$(echo "$result" | awk '{printf "%.0f", $3 / $5}')
    line="$line $rate"
  done
  echo "$line" >>"$OUT/gzip-c.rounds"
done
plain=$(col 1 "$OUT/gzip-c.rounds"); gz=$(col 2 "$OUT/gzip-c.rounds")
echo "  plain $plain events/s, gzip $gz events/s: x$(ratio "$gz" "$plain") (target >= 0.7)"
