# Shared helpers of the bench scripts: start a server, load it with wrk.
# Sourced, not run. Every server listens on 127.0.0.1 only.

set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
OUT="$BENCH_DIR/out"
mkdir -p "$OUT"
RELEASE="$ROOT/target/release"
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

# own PID: a server started inside a subshell (`< <(run …)`) is stopped when
# that subshell exits, also when it fails half-way; the subshell's PIDS never
# reach the main shell's cleanup. Only what the subshell started is stopped
# (its copy of PIDS also holds servers the main shell keeps, an upstream).
own() {
  [ "$BASHPID" = "$$" ] && return
  [ "${OWN_OF:-}" = "$BASHPID" ] || { OWN=(); OWN_OF=$BASHPID; }
  OWN+=("$1")
  trap 'kill "${OWN[@]}" 2>/dev/null || true; wait 2>/dev/null || true' EXIT
}

need() { # need COMMAND APT-PACKAGE
  command -v "$1" >/dev/null && return
  echo "installing $2 (for $1)" >&2
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }
  else
    echo "please install $2" >&2; exit 1
  fi
}

# The server gets CPU 0 and wrk CPU 1 when there are two or more, so that
# neither steals the other's core and runs compare like with like.
SERVER_CPUS=0
LOAD_CPUS=1
if [ "$(nproc)" -lt 2 ]; then SERVER_CPUS=0; LOAD_CPUS=0; fi

# launch LOG COMMAND...: runs a server on the server CPUs, its output in
# LOG; sets SERVER_PID, and the server is stopped with the shell (or
# subshell) that launched it.
launch() {
  local log=$1; shift
  taskset -c "$SERVER_CPUS" "$@" >"$log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  own "$SERVER_PID"
}

# start NAME COMMAND...: starts a server on 127.0.0.1:0, waits for its
# "listening on http://ADDR" (or https://) line and sets ADDR.
start() {
  local name=$1; shift
  local log="$OUT/$name.log"
  launch "$log" "$@"
  local pid=$SERVER_PID
  for _ in $(seq 1 200); do
    ADDR=$(grep -Eo 'listening on https?://[^ ]*' "$log" | head -1 | sed -E 's|listening on https?://||') || true
    [ -n "$ADDR" ] && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; echo "$name failed to start" >&2; exit 1; }
    sleep 0.05
  done
  echo "$name did not start in 10s" >&2; cat "$log" >&2; exit 1
}

# start_port NAME PORT COMMAND...: for servers that print no address
# (nginx): starts it and waits until 127.0.0.1:PORT accepts; sets ADDR.
start_port() {
  local name=$1 port=$2; shift 2
  local log="$OUT/$name.log"
  launch "$log" "$@"
  for _ in $(seq 1 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then ADDR="127.0.0.1:$port"; return 0; fi
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$log" >&2; echo "$name failed to start" >&2; exit 1; }
    sleep 0.05
  done
  echo "$name did not start in 10s" >&2; exit 1
}

# A free TCP port on 127.0.0.1.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The processes' total CPU ticks (nginx: master and workers).
tree_cpu_ticks() {
  local total=0
  for pid in "$@" $(pgrep -P "$1" 2>/dev/null); do
    total=$((total + $(cpu_ticks "$pid" 2>/dev/null || echo 0)))
  done
  echo "$total"
}

# core_ticks CPU: "BUSY TOTAL", the clock ticks one CPU has spent so far
# (busy: user, nice, system, irq and softirq; steal is the host's time).
core_ticks() { awk -v c="cpu$1" '$1 == c {print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat; }

median() { sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

stop_all() { cleanup; PIDS=(); }

# Clock ticks of CPU (user + system) a process has used so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# load URL DURATION CONNECTIONS: runs wrk against the last started server,
# prints "REQS P50 P99 CPU_US" (req/s, ms, ms, server CPU µs per request).
load() {
  local url=$1 duration=$2 connections=$3
  local out before after
  before=$(tree_cpu_ticks "$SERVER_PID")
  local header=()
  [ -n "${WRK_HEADER:-}" ] && header=(-H "$WRK_HEADER")
  out=$(taskset -c "$LOAD_CPUS" wrk --latency -t1 -c"$connections" -d"$duration" "${header[@]}" "$url")
  after=$(tree_cpu_ticks "$SERVER_PID")
  LAST_WRK="$out"
  local errors
  errors=$(echo "$out" | grep -E 'Non-2xx|Socket errors' || true)
  [ -z "$errors" ] || echo "wrk reported: $errors" >&2
  local reqs p50 p99
  reqs=$(echo "$out" | awk '/^Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  local total
  total=$(echo "$out" | awk '/requests in/ {print $1}')
  echo "$reqs $(to_ms "$p50") $(to_ms "$p99") $(cpu_us_per_request "$before" "$after" "$total")"
}

# cpu_us_per_request TICKS_BEFORE TICKS_AFTER REQUESTS: CPU µs per request.
cpu_us_per_request() {
  awk "BEGIN {printf \"%.2f\", ($2 - $1) * 1000000 / $(getconf CLK_TCK) / $3}"
}

to_ms() { # wrk prints 1.23ms, 456.00us or 1.20s
  local v=$1
  case "$v" in
    *us) echo "$v" | awk '{printf "%.3f", $1/1000}' ;;
    *ms) echo "$v" | awk '{printf "%.3f", $1+0}' ;;
    *s) echo "$v" | awk '{printf "%.3f", $1*1000}' ;;
    *) echo "$v" ;;
  esac
}

rss_kb() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }

# Peak resident memory (KB) of a process and its children (gunicorn's
# worker, nginx's workers), summed.
peak_rss_tree() {
  local total=0
  for pid in "$1" $(pgrep -P "$1" 2>/dev/null); do
    total=$((total + $(rss_kb "$pid" 2>/dev/null || echo 0)))
  done
  echo "$total"
}
