#!/usr/bin/env bash
# Installs what the benchmark suite needs: the load generator, the peer servers,
# perf, valgrind and gnuplot (through scripts/setup.sh: apt-get only for what is
# missing, safe to run again). Node is taken from /usr/bin/node as it is.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

"$here/../scripts/setup.sh" \
  wrk nginx-light h2o gnuplot-nox linux-perf valgrind \
  g++ liburing-dev meson ninja-build pkg-config procps util-linux curl

if [ ! -x /usr/bin/node ]; then
  echo "bench/setup: /usr/bin/node is missing; the Node cluster peer will be skipped" >&2
fi
