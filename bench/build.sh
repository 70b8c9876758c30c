#!/usr/bin/env bash
# Builds what the benchmarks run: preforkd in build-bench/ (our own build dir,
# release; ninja picks up the current sources) and the ceiling responder in
# bench/.build/. Prints nothing on success.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
cd "$repo"
if [ ! -f build-bench/build.ninja ]; then
  meson setup build-bench --buildtype=release >/dev/null
fi
ninja -C build-bench preforkd >/dev/null
mkdir -p "$here/.build"
if [ ! -x "$here/.build/ceiling" ] || [ "$here/ceiling/ceiling.cpp" -nt "$here/.build/ceiling" ]; then
  g++ -O2 -std=c++20 -Wall -Wextra "$here/ceiling/ceiling.cpp" -o "$here/.build/ceiling" -luring
fi
