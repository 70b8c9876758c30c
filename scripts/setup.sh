#!/usr/bin/env bash
# Installs the Debian packages preforkd needs to build, run and test.
# Safe to run any number of times: it only calls apt-get for what is missing.
set -euo pipefail

packages=(
  build-essential meson ninja-build pkg-config
  liburing-dev node-llhttp libmimalloc-dev libtomlplusplus-dev libexpected-dev
  catch2 python3-pytest
  curl wrk procps
  clang libclang-rt-14-dev
)

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
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
