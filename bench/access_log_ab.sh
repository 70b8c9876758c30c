#!/bin/bash
# The access log's cost: off against on (JSON, to a file), wrk -t2 -c64 -d5s on 2
# workers, alternated, 3 pairs; req/s and worker CPU µs per request (utime + stime of
# the workers from /proc, ticks of 10 ms). Port 9714, 127.0.0.1 only.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
"$here/build.sh"
BIN="$(dirname "$here")/build-bench/preforkd"
work=$(mktemp -d /tmp/preforkd-access-ab-XXXXXX)
trap 'rm -rf "$work"' EXIT
mk() { # $1 name $2 extra
cat > $work/$1.toml <<T
[server]
listen = "127.0.0.1:9714"
workers = 2
pid_file = "$work/$1.pid"
control_socket = "$work/$1.sock"
$2
[[route]]
path = "/"
body = "hello word"
T
}
mk off ""
mk on "[log]
access = \"$work/access.log\"
access_format = \"json\""
cpu() { local t=0; for p in $(pgrep -P $1); do t=$((t + $(awk '{print $14+$15}' /proc/$p/stat))); done; echo $t; }
for round in 1 2 3; do for mode in off on; do
  rm -f $work/access.log
  $BIN -c $work/$mode.toml 2>$work/$mode.err & M=$!
  sleep 0.7
  c0=$(cpu $M)
  out=$(wrk -t2 -c64 -d5s http://127.0.0.1:9714/)
  c1=$(cpu $M)
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  n=$(echo "$out" | awk '/requests in/ {print $1}')
  echo "$round $mode rps=$rps cpu_us_per_req=$(python3 -c "print(round(($c1-$c0)*10000/$n,2))")"
  kill -QUIT $M; wait $M
  [ $mode = on ] && echo "   access log lines: $(wc -l < $work/access.log) (wrk counted $n; the rest were in flight when it stopped)"
done; done
