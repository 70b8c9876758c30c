#!/usr/bin/env bash
# The benchmark suite in one command: preforkd (balance=shared and =reuseport)
# against nginx, h2o, a Node cluster and an io_uring "ceiling" responder.
#
#   bench/run.sh                 # defaults: every server and workload, 3 runs x 5 s (~40 min)
#   bench/run.sh --quick         # 1 run x 2 s of everything (~2.5 min)
#   bench/run.sh -d 10 -r 5 -s preforkd-shared,nginx,ceiling -l keepalive,pinned
#   bench/run.sh --help          # every option
#
# Writes bench/results/<stamp>.{json,md} and <stamp>-{rps,cpu}.png (or into --out DIR).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
cd "$repo"

for a in "$@"; do
  if [ "$a" = -h ] || [ "$a" = --help ]; then
    exec /usr/bin/python3 "$here/bench.py" --ceiling /dev/null --help
  fi
done

"$here/setup.sh"

"$here/build.sh"   # preforkd -> build-bench/, ceiling -> bench/.build/
build="$here/.build"

stamp=$(date +%Y-%m-%d-%H%M%S)
out="$here/results"   # bench.py's --out, where the report is written too
prev=
for a in "$@"; do
  case "$prev" in --out) out=$a ;; --stamp) stamp=$a ;; esac
  case "$a" in --out=*) out=${a#--out=} ;; --stamp=*) stamp=${a#--stamp=} ;; esac
  prev=$a
done
command="bench/run.sh${*:+ $*}"

# bench.py stops every server it started on any exit; forward TERM/INT/HUP to it
# and wait, so an interrupted suite leaves nothing running.
pid=
forward() {
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  if [ -f "$out/$stamp.json" ]; then   # report what finished
    /usr/bin/python3 "$here/report.py" "$out/$stamp.json" || true
  fi
  exit 130
}
trap forward TERM INT HUP

/usr/bin/python3 "$here/bench.py" --ceiling "$build/ceiling" \
  --preforkd "$repo/build-bench/preforkd" --stamp "$stamp" --command "$command" "$@" &
pid=$!
rc=0
wait "$pid" || rc=$?
pid=
trap - TERM INT HUP

if [ -f "$out/$stamp.json" ]; then
  /usr/bin/python3 "$here/report.py" "$out/$stamp.json"
fi
exit "$rc"
