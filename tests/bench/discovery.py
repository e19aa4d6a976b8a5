"""Benchmark (not a test): cold policy discoveries per second.  Starts the
loopback world with N domains, then runs `mtasts lookup --file` over all of
them (without the cache), RUNS times, and prints the median rate and the peak memory of the
mtasts process.

  /usr/bin/python3 tests/bench/discovery.py [N] [RUNS] [--system-bundle]

--system-bundle: the CA bundle is Debian's (/etc/ssl/certs/ca-certificates.crt,
~140 roots) with the world's root added, as an operator's would be, not
the world's one root.

The DNS and HTTPS servers are Python: on 2 cores they share the CPU with
mtasts, so the figure is a floor for mtasts, not a ceiling."""
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "world"))
from world import World  # noqa: E402

MTASTS = os.environ.get("MTASTS", os.path.join(HERE, "..", "..", "build",
                                               "module", "cli", "mtasts"))


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if len(args) > 0 else 1000
    runs = int(args[1]) if len(args) > 1 else 5
    domains = [f"d{i}.bench.example" for i in range(n)]
    world = World(scenarios={})
    if "--system-bundle" in sys.argv:
        bundle = os.path.join(world.dir, "system-and-world.pem")
        with open(bundle, "w") as out:
            for path in ("/etc/ssl/certs/ca-certificates.crt",
                         world.ca.cert_file):
                with open(path) as f:
                    out.write(f.read())
        with open(world.config) as f:
            text = f.read().replace(world.ca.cert_file, bundle)
        with open(world.config, "w") as f:
            f.write(text)
    for d in domains:
        world.add(d)  # each policy host with a certificate of its own
    try:
        with tempfile.NamedTemporaryFile("w") as f:
            f.write("\n".join(domains) + "\n")
            f.flush()
            rates = []
            for _ in range(runs):
                start = time.monotonic()
                # discovery alone: the cache would answer every run after
                # the first (tests/bench/cache.py measures it)
                p = subprocess.run([MTASTS, "lookup", "--no-cache",
                                    "--config", world.config, "--json",
                                    "--file", f.name], capture_output=True)
                elapsed = time.monotonic() - start
                found = p.stdout.count(b'"status": "found"')
                if found != n:
                    bad = [r for r in json.loads(p.stdout)["results"]
                           if r["status"] != "found"]
                    sys.exit(f"only {found} of {n} found: {bad[:3]}")
                rates.append(n / elapsed)
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        peak = usage.ru_maxrss
        cpu_ms = (usage.ru_utime + usage.ru_stime) * 1000 / (n * runs)
        print(f"cold discoveries: {n} domains, {runs} runs, median "
              f"{statistics.median(rates):.0f}/s (min {min(rates):.0f}, "
              f"max {max(rates):.0f}); peak RSS of mtasts {peak / 1024:.1f} "
              f"MiB; mtasts CPU {cpu_ms:.2f} ms per discovery")
    finally:
        world.stop()


if __name__ == "__main__":
    main()
