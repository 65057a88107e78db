#!/usr/bin/env bash
# The cost of each layer, in instructions per request counted by callgrind:
# `towerkit serve` with the hello-world text app alone, then the text app
# with one layer in front of it, for each layer of bench/full-stack.toml;
# then the full stack, and bare hyper for scale. Instructions do not depend
# on what else the machine runs, so two builds compare exactly.
#
# Each server runs under callgrind with instrumentation off; after a
# warm-up (h2load --h1 -c16, 2,000 requests) it is switched on for
# REQUESTS requests (default 10,000) and off again.
#
# LAYERS="gzip session" measures only those (and the app alone).
#
#   [BASE_BIN=../base/target/release/towerkit] bench/layers.sh
source "$(dirname "$0")/lib.sh"

REQUESTS=${REQUESTS:-10000}
need valgrind valgrind
need callgrind_control valgrind
need h2load nghttp2-client
(cd "$ROOT" && cargo build --release -q -p towerkit --bin towerkit && cargo build --release -q -p towerkit-bench)

USERS="$ROOT/examples/demo/users.htpasswd"

# stack LAYER: a stack file of the text app behind LAYER ("none": alone).
stack() {
  local layer=$1 file="$OUT/layer-$1.toml"
  {
    echo '[server]'
    echo 'listen = "127.0.0.1:0"'
    echo '[app.hello]'
    echo 'use = "text"'
    echo 'body = "hello\n"'
    case "$layer" in
      none) echo '[pipeline.main]'; echo 'pipeline = ["hello"]' ;;
      urlmap) printf '[composite.main]\nuse = "urlmap"\n"/" = "hello"\n' ;;
      *)
        echo '[pipeline.main]'
        echo "pipeline = [\"layer\", \"hello\"]"
        echo '[filter.layer]'
        case "$layer" in
          login) printf 'use = "login"\nmethods = ["basic"]\nusers = "%s"\nprotect = ["/private"]\n' "$USERS" ;;
          access-log) printf 'use = "access-log"\npath = "%s"\n' "$OUT/layers-access.log" ;;
          *) echo "use = \"$layer\"" ;;
        esac
        ;;
    esac
  } >"$file"
  echo "$file"
}

# count COMMAND...: instructions per request of the server that COMMAND,
# given a loopback address as its last argument, starts.
count() {
  local out="$OUT/callgrind.layers" log="$OUT/callgrind.layers.log" port addr pid
  rm -f "$out"
  port=$(free_port)
  addr="127.0.0.1:$port"
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out" \
    "$@" "$addr" >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  h2load --h1 -c16 -n 2000 "http://$addr/" >/dev/null
  callgrind_control -i on "$pid" >/dev/null 2>&1
  h2load --h1 -c16 -n "$REQUESTS" "http://$addr/" >"$OUT/layers-h2load.txt"
  callgrind_control -i off "$pid" >/dev/null 2>&1
  grep -q "$REQUESTS succeeded" "$OUT/layers-h2load.txt" \
    || { echo "not every request succeeded: $(grep succeeded "$OUT/layers-h2load.txt")" >&2; exit 1; }
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  awk -v n="$REQUESTS" '/^totals:/ {printf "%.0f", $2 / n; exit}' "$out"
}

run() { # run BIN: the table for one build
  local bin=$1 alone per
  alone=$(count "$bin" serve "$(stack none)" --listen)
  printf '  %-18s %8s\n' "text app alone" "$alone"
  for layer in ${LAYERS:-proxy-fix http-exceptions gzip session login recursive urlmap access-log full}; do
    if [ "$layer" = full ]; then
      per=$(count "$bin" serve "$BENCH_DIR/full-stack.toml" --listen)
      printf '  %-18s %8s  (+%s)\n' "full stack" "$per" "$((per - alone))"
      continue
    fi
    per=$(count "$bin" serve "$(stack "$layer")" --listen)
    printf '  %-18s %8s  (+%s)\n' "+ $layer" "$per" "$((per - alone))"
  done
}

echo "instructions per request (callgrind, h2load --h1 -c16, $REQUESTS requests after 2,000 to warm up):"
printf '  %-18s %8s\n' "bare hyper" "$(count "$RELEASE/bare-hyper")"
echo "this build ($(cd "$ROOT" && git rev-parse --short HEAD)):"
run "$RELEASE/towerkit"
if [ -n "${BASE_BIN:-}" ]; then
  echo "base ($BASE_BIN):"
  run "$BASE_BIN"
fi
