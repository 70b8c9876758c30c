#!/usr/bin/env bash
# Installs the Debian packages preforkd needs to build, run and test, or, given
# package names, those (bench/setup.sh passes its own list).
# Safe to run any number of times: it only calls apt-get for what is missing.
set -euo pipefail

packages=("$@")
if [ ${#packages[@]} -eq 0 ]; then
  packages=(
    build-essential meson ninja-build pkg-config
    liburing-dev node-llhttp libmimalloc-dev libtomlplusplus-dev libexpected-dev libsystemd-dev
    catch2 python3-pytest python3-prometheus-client systemd
    curl wrk procps haproxy iproute2 python3-yaml
    clang libclang-rt-14-dev
  )
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "setup: installing ${missing[*]}" >&2
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
# policy-rc.d keeps packages' init scripts from starting services (a system nginx on
# port 80, say) while they install; it is removed again if this script created it.
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
exit "$rc"
