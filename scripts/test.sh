#!/usr/bin/env bash
# README command 2: install what is missing, build, and run every test:
#   1. release build: Catch2 unit tests + pytest integration tests;
#   2. the same tests on an AddressSanitizer + UndefinedBehaviorSanitizer build;
#   3. the libFuzzer targets: the request parser for FUZZ_SECONDS (default 60), then the
#      target path normaliser for PATH_FUZZ_SECONDS (default 30).
# Ends with "tests: N passed, M failed" summed over all of them.
# PREFORKD_QUICK=1 runs stage 1 only (for a fast local loop).
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh || exit 1

status=0
logs=()

echo "== release build: unit + integration tests"
scripts/build.sh || exit 1
meson test -C build --print-errorlogs "$@" || status=1
logs+=(build/meson-logs/testlog.json)

if [ "${PREFORKD_QUICK:-0}" != 1 ]; then
  echo "== address + undefined-behaviour sanitizers: unit + integration tests"
  if [ ! -f build-asan/build.ninja ]; then
    meson setup build-asan --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false >/dev/null || exit 1
  fi
  ninja -C build-asan || exit 1
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    meson test -C build-asan --print-errorlogs --timeout-multiplier 3 "$@" || status=1
  logs+=(build-asan/meson-logs/testlog.json)

  echo "== fuzzing the request parser for ${FUZZ_SECONDS:-60} s"
  if [ ! -f build-fuzz/build.ninja ]; then
    CC=clang CXX=clang++ meson setup build-fuzz -Dfuzz=true --buildtype=debugoptimized \
      -Db_sanitize=address,undefined -Db_lundef=false >/dev/null || exit 1
  fi
  ninja -C build-fuzz tests/fuzz/request_parser_fuzz tests/fuzz/target_path_fuzz || exit 1
  scripts/run_fuzz.sh build-fuzz/tests/fuzz/request_parser_fuzz tests/fuzz/corpus/request_parser \
    "${FUZZ_SECONDS:-60}" build-fuzz/fuzz-result.json || status=1
  logs+=(build-fuzz/fuzz-result.json)

  echo "== fuzzing the target path normaliser for ${PATH_FUZZ_SECONDS:-30} s"
  scripts/run_fuzz.sh build-fuzz/tests/fuzz/target_path_fuzz tests/fuzz/corpus/target_path \
    "${PATH_FUZZ_SECONDS:-30}" build-fuzz/fuzz-target-path-result.json || status=1
  logs+=(build-fuzz/fuzz-target-path-result.json)
fi

/usr/bin/python3 scripts/summarize_tests.py "${logs[@]}"
exit $status
