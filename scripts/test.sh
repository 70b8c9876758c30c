#!/usr/bin/env bash
# README command 2: install what is missing, build, run every test (unit + integration),
# and finish with "tests: N passed, M failed" summed over both suites.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh || exit 1
scripts/build.sh || exit 1
meson test -C build --print-errorlogs "$@"
status=$?
/usr/bin/python3 scripts/summarize_tests.py build/meson-logs/testlog.json
exit $status
