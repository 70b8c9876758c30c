#!/bin/bash
# Fairness beside deep pipelines: one worker, 32 connections pipelining DEPTH (1024)
# GET / per write (wrk -t1 -c32 -d8s -s pipeline.lua), and meanwhile one ordinary
# keep-alive client (wrk -t1 -c1 -d6s --latency): its latency percentiles are what the
# pipelining clients cost everyone else. With two binaries, they are alternated.
#   bench/pipeline_fairness.sh [-r ROUNDS] [-p DEPTH] [BIN [BIN2]]
# BIN defaults to build-bench/preforkd (built first). Port 9715, 127.0.0.1 only.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
rounds=3
depth=1024
while getopts r:p: opt; do
  case $opt in
    r) rounds=$OPTARG ;;
    p) depth=$OPTARG ;;
    *) sed -n 2,7p "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
if [ $# -eq 0 ]; then
  "$here/build.sh" >/dev/null || exit 1
  set -- "$(dirname "$here")/build-bench/preforkd"
fi
work=$(mktemp -d /tmp/preforkd-fairness-XXXXXX)
trap 'rm -rf "$work"' EXIT
cat > "$work/s.toml" <<T
[server]
listen = "127.0.0.1:9715"
workers = 1
pid_file = "$work/s.pid"
control_socket = "$work/s.sock"
[limits]
max_requests_per_connection = 0
[[route]]
path = "/"
body = "hello word"
T
printf '%-4s %-40s %12s %10s %8s %8s %8s %8s %8s\n' round binary deep-req/s one-req/s p50 p75 p90 p99 max
for round in $(seq "$rounds"); do
  for bin in "$@"; do
    "$bin" -c "$work/s.toml" 2>"$work/server.err" &
    server=$!
    for _ in $(seq 50); do
      [ -S "$work/s.sock" ] && break
      sleep 0.1
    done
    PIPELINE_DEPTH=$depth timeout 20 wrk -t1 -c32 -d8s -s "$here/pipeline.lua" http://127.0.0.1:9715/ >"$work/deep.txt" 2>&1 &
    deep=$!
    sleep 1
    timeout 20 wrk -t1 -c1 -d6s --latency http://127.0.0.1:9715/ >"$work/one.txt" 2>&1
    wait $deep
    kill $server
    wait $server 2>/dev/null
    pct() { awk -v p="$1" '$1 == p { print $2 }' "$work/one.txt"; }
    printf '%-4s %-40s %12s %10s %8s %8s %8s %8s %8s\n' "$round" "$bin" \
      "$(awk '/Requests\/sec/ { print $2 }' "$work/deep.txt")" \
      "$(awk '/Requests\/sec/ { print $2 }' "$work/one.txt")" \
      "$(pct 50%)" "$(pct 75%)" "$(pct 90%)" "$(pct 99%)" \
      "$(awk '$1 == "Latency" && NF >= 4 { print $4; exit }' "$work/one.txt")"
  done
done
