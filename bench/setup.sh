#!/usr/bin/env bash
# Installs what the benchmark suite needs: the load generator, the peer servers,
# perf, valgrind and gnuplot. Safe to run any number of times: apt-get is called
# only for packages that are missing. Node is taken from /usr/bin/node as it is.
set -euo pipefail

packages=(
  wrk nginx-light h2o gnuplot-nox linux-perf valgrind
  g++ liburing-dev meson ninja-build pkg-config procps util-linux curl
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "bench/setup: installing ${missing[*]}" >&2
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -q
  # --no-install-recommends; policy-rc.d keeps the packages' init scripts from
  # starting a system nginx/h2o on port 80 (we run our own instances).
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod +x "$policy"
    created_policy=1
  fi
  rc=0
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" || rc=$?
  if [ "$created_policy" = 1 ]; then
    "${sudo[@]}" rm -f "$policy"
  fi
  [ "$rc" = 0 ] || exit "$rc"
fi

if [ ! -x /usr/bin/node ]; then
  echo "bench/setup: /usr/bin/node is missing; the Node cluster peer will be skipped" >&2
fi
