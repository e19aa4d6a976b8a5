"""Counts the test cases of every meson test in the given build directories
(Check's "Checks: N, Failures: F, Errors: E", unittest's "Ran N tests") and
prints the one closing line CI reads: "N passed, N failed[, N skipped]".
An argument NAME=STATUS counts one more check by its exit status (the
fresh-system check of the quick start in CI)."""
import json
import re
import sys

CHECK = re.compile(r"Checks: (\d+), Failures: (\d+), Errors: (\d+)")
UNITTEST_RAN = re.compile(r"^Ran (\d+) tests?", re.M)
UNITTEST_BAD = re.compile(r"(failures|errors|skipped)=(\d+)")


def count(entry):
    """(passed, failed, skipped) of one meson test."""
    out = (entry.get("stdout") or "") + (entry.get("stderr") or "")
    ok = entry["result"] in ("OK", "EXPECTEDFAIL")
    if entry["result"] == "SKIP":
        return 0, 0, 1
    passed = failed = skipped = 0
    for n, f, e in CHECK.findall(out):
        passed += int(n) - int(f) - int(e)
        failed += int(f) + int(e)
    ran = UNITTEST_RAN.findall(out)
    if ran:
        total = sum(int(n) for n in ran)
        bad = {"failures": 0, "errors": 0, "skipped": 0}
        for line in out.splitlines():
            if line.startswith(("FAILED (", "OK (")):
                for k, v in UNITTEST_BAD.findall(line):
                    bad[k] += int(v)
        failed += bad["failures"] + bad["errors"]
        skipped += bad["skipped"]
        passed += total - bad["failures"] - bad["errors"] - bad["skipped"]
    if passed + failed + skipped == 0:
        return (1, 0, 0) if ok else (0, 1, 0)
    if not ok and failed == 0:
        failed = 1  # crashed or leaked after its cases passed
    return passed, failed, skipped


def main(args):
    passed = failed = skipped = 0
    dirs = [a for a in args if "=" not in a]
    for name, status in (a.split("=", 1) for a in args if "=" in a):
        if status == "0":
            passed += 1
        else:
            failed += 1
            print(f"FAILED: {name} (exit {status})", file=sys.stderr)
    for d in dirs:
        try:
            with open(f"{d}/meson-logs/testlog.json") as f:
                entries = [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            print(f"summary: no test log in {d}", file=sys.stderr)
            failed += 1
            continue
        for e in entries:
            p, f_, s = count(e)
            passed, failed, skipped = passed + p, failed + f_, skipped + s
            if f_:
                print(f"FAILED: {d}: {e['name']}", file=sys.stderr)
    line = f"{passed} passed, {failed} failed"
    if skipped:
        line += f", {skipped} skipped"
    print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
