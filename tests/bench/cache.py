"""Benchmarks (not tests) of the cache through the mtasts command, against
the loopback world:

  /usr/bin/python3 tests/bench/cache.py [RUNS]

- a warm `mtasts lookup` process (a cached domain: no network at all),
  RUNS x 100 processes one after another: median time per process;
- `mtasts refresh --all` over 1,000 cached domains, RUNS times, when every
  TXT id is unchanged (a DNS query each) and when every id changed (a DNS
  query and an HTTPS fetch each): median domains per second."""
import json
import os
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


def run(world, *args):
    p = subprocess.run([MTASTS, *args, "--config", world.config],
                       capture_output=True)
    if p.returncode not in (0, 1):
        sys.exit(p.stderr.decode())
    return p


def warm_process(world, runs):
    world.add("warm.example")
    run(world, "lookup", "warm.example")
    times = []
    for _ in range(runs * 100):
        start = time.perf_counter()
        p = run(world, "lookup", "--json", "warm.example")
        times.append(time.perf_counter() - start)
        assert b'"source": "cache"' in p.stdout, p.stdout
    ms = statistics.median(times) * 1000
    print(f"warm mtasts lookup process: median {ms:.2f} ms "
          f"({1000 / ms:.0f} processes per second, one after another)")


def refresh(world, runs, n=1000):
    domains = [f"r{i}.bench.example" for i in range(n)]
    for d in domains:
        world.add(d)
    with tempfile.NamedTemporaryFile("w") as f:
        f.write("\n".join(domains))
        f.flush()
        run(world, "lookup", "--file", f.name)
    for label, change in (("ids unchanged (renewals)", False),
                          ("ids changed (refetches)", True)):
        rates = []
        for i in range(runs):
            if change:
                for d in domains:
                    world.zone.remove("_mta-sts." + d, "TXT")
                    world.zone.add("_mta-sts." + d, "TXT",
                                   f"v=STSv1; id=run{i}")
            start = time.perf_counter()
            p = run(world, "refresh", "--all", "--json")
            rates.append(n / (time.perf_counter() - start))
            counts = json.loads(p.stdout)["status"]
            # the bench domains, and warm.example from before
            assert counts["found" if change else "renewed"] >= n, counts
        print(f"mtasts refresh --all, {n} domains, {label}: median "
              f"{statistics.median(rates):.0f} domains per second")


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    world = World(scenarios={}, extra_config="txt_recheck = 86400\n")
    try:
        warm_process(world, runs)
        refresh(world, runs)
    finally:
        world.stop()


if __name__ == "__main__":
    main()
