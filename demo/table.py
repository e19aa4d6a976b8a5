"""Prints mtasts lookup --json results as a short table."""
import json
import sys

results = json.load(open(sys.argv[1]))["results"]
print(f"\n{'domain':<20} {'status':<10} {'mode':<8} what")
for r in results:
    p = r["policy"]
    err = p.get("error")
    mx = p.get("mx", [])
    what = (f"{err['code']}: {err['message']}" if err
            else "mx " + ", ".join(mx) if mx else "-")
    print(f"{r['domain']:<20} {r['status']:<10} {p['mode']:<8} {what[:90]}")
