#!/usr/bin/env bash
# Instructions per request, counted by valgrind --tool=callgrind, for preforkd
# and the ceiling responder: 1 worker, one keep-alive connection, requests sent
# one after another (bench/seq_client.py), or with -d D pipelined D to a write.
#
# Each server runs twice under callgrind: once answering BASE requests and once
# BASE + N. Instructions per request = (Ir of the second run - Ir of the first) / N,
# so start-up, ring set-up and shut-down cancel out. Ir counts user-space
# instructions only: the kernel's share (TCP, io_uring) is not in it.
#
#   bench/callgrind.sh                  # N = 20000, BASE = 2000
#   bench/callgrind.sh -n 5000 -b 1000
#   bench/callgrind.sh -n 16000 -b 1600 -d 16   # pipelined x16 (D must divide N and BASE)
#
# Prints a table and writes bench/results/<stamp>-callgrind.md, plus the top
# functions of each server's worker (callgrind_annotate) in
# bench/results/<stamp>-callgrind-<server>.txt.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
requests=20000
base=2000
depth=1
port=18095
servers="preforkd ceiling"
while [ $# -gt 0 ]; do
  case "$1" in
    -n|--requests) requests=$2; shift 2 ;;
    -b|--base) base=$2; shift 2 ;;
    -d|--depth) depth=$2; shift 2 ;;
    -p|--port) port=$2; shift 2 ;;
    -s|--servers) servers=${2//,/ }; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "callgrind.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
if ! [[ "$depth" =~ ^[1-9][0-9]*$ ]] || (( requests % depth != 0 || base % depth != 0 )); then
  echo "callgrind.sh: -d must be a positive number that divides -n and -b" >&2
  exit 2
fi

"$here/setup.sh"
"$here/build.sh"

work=$(mktemp -d /tmp/preforkd-callgrind-XXXXXX)
server_pid=
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    sleep 3
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

if ss -ltn "sport = :$port" | grep -q LISTEN; then
  echo "callgrind.sh: port $port is in use; pick another with -p" >&2
  exit 1
fi

cat >"$work/preforkd.toml" <<EOF
[server]
listen = "127.0.0.1:$port"
workers = 1
balance = "shared"

[limits]
max_requests_per_connection = 0

[[route]]
path = "/"
body = "hello word"
content_type = "text/plain"
EOF

server_argv() {
  case "$1" in
    preforkd) echo "$repo/build-bench/preforkd -c $work/preforkd.toml" ;;
    ceiling) echo "$here/.build/ceiling --port $port --workers 1" ;;
    *) echo "callgrind.sh: unknown server $1" >&2; exit 2 ;;
  esac
}

# measure NAME N -> sets total_ir and worker_ir (no subshell: the EXIT trap must see server_pid)
measure() {
  local name=$1 n=$2 out="$work/$1-$2"
  mkdir -p "$out"
  # shellcheck disable=SC2046
  valgrind --tool=callgrind --callgrind-out-file="$out/cg.%p" \
    $(server_argv "$name") >"$out/server.log" 2>&1 &
  server_pid=$!
  local deadline=$((SECONDS + 60))
  until ss -ltn "sport = :$port" | grep -q LISTEN; do
    if ! kill -0 "$server_pid" 2>/dev/null || [ $SECONDS -gt $deadline ]; then
      echo "callgrind.sh: $name did not start:" >&2
      tail -20 "$out/server.log" >&2
      exit 1
    fi
    sleep 0.2
  done
  /usr/bin/python3 "$here/seq_client.py" --port "$port" --requests "$n" --depth "$depth" --timeout 60 >&2
  kill -TERM "$server_pid"
  wait "$server_pid" || true
  local master=$server_pid
  server_pid=
  local total=0 worker=0 f pid ir
  for f in "$out"/cg.*; do
    pid=${f##*.}
    ir=$(awk '/^summary:/ {print $2}' "$f")
    total=$((total + ir))
    if [ "$pid" != "$master" ]; then
      worker=$((worker + ir))
      cp "$f" "$work/$name-$n.worker.out"
    fi
  done
  total_ir=$total
  worker_ir=$worker
}

stamp=$(date +%Y-%m-%d-%H%M%S)
results="$here/results"
mkdir -p "$results"
md="$results/$stamp-callgrind.md"
{
  echo "# Instructions per request (callgrind) — $(date -Iseconds)"
  echo
  echo "- machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), kernel $(uname -r)"
  echo "- $(valgrind --version); preforkd: $("$repo/build-bench/preforkd" -v), git $(git -C "$repo" rev-parse --short HEAD)"
  if [ "$depth" -gt 1 ]; then shape="GET / pipelined $depth to a write"; else shape="sequential GET /"; fi
  echo "- command: \`bench/callgrind.sh -n $requests -b $base -d $depth\`: 1 worker, 1 keep-alive connection, $shape"
  echo "- Ir/request = (Ir after $((base + requests)) requests - Ir after $base requests) / $requests; user space only"
  echo
  echo "| server | Ir/request (all processes) | Ir/request (worker) |"
  echo "|---|---:|---:|"
} >"$md"

printf '%-10s %22s %18s\n' server "Ir/request (all)" "Ir/request (worker)"
for s in $servers; do
  measure "$s" "$base"
  t1=$total_ir w1=$worker_ir
  measure "$s" "$((base + requests))"
  t2=$total_ir w2=$worker_ir
  all=$(( (t2 - t1) / requests ))
  wrk=$(( (w2 - w1) / requests ))
  printf '%-10s %22s %18s\n' "$s" "$all" "$wrk"
  echo "| $s | $all | $wrk |" >>"$md"
  if [ -f "$work/$s-$((base + requests)).worker.out" ]; then
    callgrind_annotate --threshold=95 "$work/$s-$((base + requests)).worker.out" 2>/dev/null \
      | head -60 >"$results/$stamp-callgrind-$s.txt" || true
  fi
done
echo >>"$md"
echo "Top functions of each worker (whole run of $((base + requests)) requests, start-up included): \`$stamp-callgrind-<server>.txt\`." >>"$md"
echo "callgrind.sh: wrote $md"
