#!/usr/bin/env python3
"""Sums test cases over the meson test log: Catch2 and pytest each print a summary
line; a suite whose summary cannot be read counts as one test, by its exit status."""
import json
import re
import sys

def counts(entry):
    out = entry.get("stdout", "") or ""
    m = re.search(r"All tests passed \(\d+ assertions? in (\d+) test cases?\)", out)
    if m:
        return int(m.group(1)), 0
    m = re.search(r"test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed", out)
    if m:
        return int(m.group(2)), int(m.group(3))
    m = re.search(r"test cases:\s*(\d+)\s*\|\s*(\d+) failed", out)
    if m:
        return 0, int(m.group(2))
    tail = [l for l in out.splitlines() if re.search(r"\d+ (passed|failed|error)", l)]
    if tail:
        last = tail[-1]
        passed = sum(int(n) for n in re.findall(r"(\d+) passed", last))
        failed = sum(int(n) for n in re.findall(r"(\d+) (?:failed|errors?)", last))
        return passed, failed
    ok = entry.get("result") in ("OK", "EXPECTEDFAIL", "SKIP")
    return (1, 0) if ok else (0, 1)

passed = failed = 0
for path in sys.argv[1:]:
    suite = path.split("/")[0]
    try:
        with open(path) as f:
            lines = [l.strip() for l in f if l.strip()]
    except FileNotFoundError:
        print(f"  {path}: missing (that stage did not run to the end)")
        failed += 1
        continue
    for line in lines:
        entry = json.loads(line)
        p, f_ = counts(entry)
        if entry.get("result") not in ("OK", "EXPECTEDFAIL", "SKIP") and f_ == 0:
            f_ = 1  # crashed or timed out after printing a passing summary
        print(f"  {suite}: {entry.get('name')}: {p} passed, {f_} failed ({entry.get('result')})")
        passed += p
        failed += f_
print(f"tests: {passed} passed, {failed} failed")
