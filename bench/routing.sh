#!/usr/bin/env bash
# Routing, in-process: towerkit-routing's Router against axum's Router
# (matchit) on 100 rules of GitHub's REST API, in the same run (batches of
# 500 requests, the routers alternating, thread CPU time), and url_for's
# cost per call.
#
#   bench/routing.sh [--quick]        (ROUNDS overrides)
source "$(dirname "$0")/lib.sh"

ROUNDS=${ROUNDS:-7}
[ "${1:-}" = "--quick" ] && ROUNDS=2

(cd "$ROOT" && cargo build --release -q -p towerkit-bench --bin routing-bench)
taskset -c "$SERVER_CPUS" "$RELEASE/routing-bench" "$ROUNDS"
