"""Benchmark (not a test): the refresh timer at a large site.  N domains
are cached (build/tests/bench/cache_bench size), of which USED (1% by
default) were asked for by a lookup; two days later (MTASTS_TEST_NOW),
when every record is due for its daily check:

- `mtasts refresh`, what the timer runs, checks only the domains used
  within refresh_window (30 days) and leaves the rest to expire;
- `mtasts refresh --all` checks every cached domain (a DNS query each: the
  TXT ids are unchanged, so no policy is fetched again).

Prints, for each, the wall time, the CPU time of the mtasts process and
its peak RSS.

  /usr/bin/python3 tests/bench/refresh.py [N] [USED]      (100000 1000)

The DNS server of the loopback world is Python and shares the two cores:
the wall time of --all is mostly its."""
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "world"))
from world import World  # noqa: E402

BUILD = os.path.join(HERE, "..", "..", "build")
MTASTS = os.environ.get("MTASTS", os.path.join(BUILD, "module", "cli",
                                               "mtasts"))
CACHE_BENCH = os.path.join(BUILD, "tests", "bench", "cache_bench")
ID = "20261122T000000"  # the id cache_bench writes


def measured(args, env=None):
    """Runs args; (wall s, CPU s, peak RSS MiB, stdout) of that process."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        p = subprocess.Popen(args, stdout=out, stderr=subprocess.DEVNULL,
                             env=env)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - start
        out.seek(0)
        stdout = out.read()
    if p.returncode not in (0, 1):
        sys.exit(f"{args}: exit {p.returncode}")
    return (wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024,
            stdout)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
    used = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    world = World(scenarios={})
    cache = tempfile.mkdtemp(prefix="mtasts-refresh-")
    try:
        # cache_bench names its domains domain0.example ...
        for i in range(n):
            world.zone.add(f"_mta-sts.domain{i}.example", "TXT",
                           f"v=STSv1; id={ID}")
        subprocess.run([CACHE_BENCH, "size", cache, str(n)], check=True,
                       capture_output=True)
        world.write_config(f"cache_dir = {cache}\ncache_size = 1024\n")
        config = ["--config", world.config]
        with tempfile.NamedTemporaryFile("w") as f:
            f.write("\n".join(f"domain{i}.example" for i in range(used)))
            f.flush()
            subprocess.run([MTASTS, "lookup", "--file", f.name, *config],
                           check=True, capture_output=True)
        later = dict(os.environ,
                     MTASTS_TEST_NOW=str(int(time.time()) + 2 * 86400))
        for label, args in (("mtasts refresh (used within 30 days)", []),
                            ("mtasts refresh --all", ["--all"])):
            wall, cpu, rss, out = measured(
                [MTASTS, "refresh", *args, "--json", *config], later)
            counts = json.loads(out)["status"]
            print(f"{label}, {n} cached, {used} used: {wall:.1f} s, "
                  f"{cpu:.1f} s CPU, peak RSS {rss:.0f} MiB; {counts}")
    finally:
        world.stop()
        subprocess.run(["rm", "-rf", cache, cache + ".conf"])


if __name__ == "__main__":
    main()
