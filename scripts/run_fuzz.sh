#!/usr/bin/env bash
# Runs a libFuzzer target for N seconds over a copy of its seed corpus (the repo's
# corpus is not modified) and writes one meson-style test result line to OUT.
# Fails on any crash, leak, timeout or sanitizer report; the crashing input is kept
# in the work directory and named in the output.
set -uo pipefail
target=$1 corpus=$2 seconds=$3 out=$4
work=$(mktemp -d "${TMPDIR:-/tmp}/preforkd-fuzz.XXXXXX")
cp "$corpus"/* "$work"/
log="$work/fuzz.log"
name="fuzz $(basename "$target") ${seconds}s"
if "$target" -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
     -artifact_prefix="$work/" -print_final_stats=1 "$work" >"$log" 2>&1; then
  result=OK
  grep -E '^Done|stat::number_of_executed_units' "$log" | tail -2
else
  result=FAIL
  tail -40 "$log"
  echo "fuzz: failure; the input is in $work (crash-*/leak-*/timeout-*)" >&2
fi
/usr/bin/python3 - "$out" "$name" "$result" <<'PY'
import json, sys
out, name, result = sys.argv[1:4]
passed = 1 if result == "OK" else 0
with open(out, "w") as f:
    f.write(json.dumps({"name": name, "result": result,
                        "stdout": f"{passed} passed, {1 - passed} failed"}) + "\n")
PY
[ "$result" = OK ]
