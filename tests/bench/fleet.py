"""Benchmark (not a test): a fleet of three nodes sharing one Redis
(issue 26), cold and warm, against the loopback world and a real
redis-server on a unix socket (no persistence).  As root:

  /usr/bin/python3 tests/bench/fleet.py [N] [PROCS]     (10000 4)

N domains with enforce policies; each node runs PROCS delivery processes
(build/tests/bench/node_bench: one mtasts_lookup() per domain, the MTAs'
path with its discovery locks), the N domains split between them in the
same order on every node, so that the three nodes miss each domain at
about the same moment.  All 3 x PROCS processes start at once:

- cold: policy fetches per domain (the world's HTTPS requests / N), Redis
  commands per domain (INFO's total_commands_processed, less this
  script's own), answers from the network and from the cache per node;
- warm: the same again; Redis commands and connections must not grow;
- Redis memory per policy: used_memory after / N, and MEMORY USAGE of
  one policy key;
- with --alone, the same three nodes without the fleet, for contrast.
"""
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "world"))
from world import World, with_settings  # noqa: E402
from https_server import Site  # noqa: E402
from redis_world import Redis  # noqa: E402

BUILD = os.path.join(HERE, "..", "..", "build")
NODE_BENCH = os.path.join(BUILD, "tests", "bench", "node_bench")
POLICY = ("version: STSv1\nmode: enforce\nmx: mx1.{d}\nmx: mx2.{d}\n"
          "max_age: 604800\n")
NAMES_PER_CERT = 500


def populate(world, n):
    """n domains, their policy hosts' certificates NAMES_PER_CERT names
    each (a key per domain would take longer than the benchmark)."""
    domains = [f"f{i}.fleet.example" for i in range(n)]
    for at in range(0, n, NAMES_PER_CERT):
        group = domains[at:at + NAMES_PER_CERT]
        cert = world.ca.issue(f"group{at}", ["mta-sts." + d for d in group])
        for d in group:
            world.add(d, site=None)
            world.https.sites["mta-sts." + d] = Site(
                body=POLICY.format(d=d), cert=cert)
    return domains


def node_config(world, name, fleet):
    with open(world.config) as f:
        text = f.read()
    lines = [f"cache_dir = {os.path.join(world.dir, name)}",
             "cache_size = 256"]
    if fleet:
        lines.append(f"fleet = redis+unix://{fleet.socket}")
    path = os.path.join(world.dir, name + ".conf")
    with open(path, "w") as f:
        f.write(with_settings(text, "\n".join(lines)))
    return path


def run_nodes(configs, shards):
    """Every node's processes at once: (wall s, per node [network,
    cache, undecided])."""
    start = time.perf_counter()
    procs = [(i, subprocess.Popen([NODE_BENCH, c, s], stdout=subprocess.PIPE,
                                  text=True))
             for i, c in enumerate(configs) for s in shards]
    counts = [[0, 0, 0] for _ in configs]
    for i, p in procs:
        out = p.communicate()[0].split()
        if p.returncode != 0:
            raise RuntimeError(f"node_bench failed: {out}")
        for k, v in enumerate((out[1], out[3], out[5])):
            counts[i][k] += int(v)
    return time.perf_counter() - start, counts


def stats(redis):
    out = {}
    for line in redis.cli("INFO", "all").splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            out[k] = v.strip()
    return out


def fetches(world, domains):
    return sum(world.fetches(d) for d in domains)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 10000
    nprocs = int(args[1]) if len(args) > 1 else 4
    world = World(scenarios={})
    redis = Redis(os.path.join(world.dir, "redis"))
    try:
        domains = populate(world, n)
        shards = []
        for k in range(nprocs):
            path = os.path.join(world.dir, f"shard{k}")
            with open(path, "w") as f:
                f.write("\n".join(domains[k::nprocs]) + "\n")
            shards.append(path)
        configs = [node_config(world, x, redis) for x in "abc"]
        before = stats(redis)
        wall, counts = run_nodes(configs, shards)
        mid = stats(redis)  # one INFO of ours in between
        cmds = (int(mid["total_commands_processed"]) -
                int(before["total_commands_processed"]) - 1)
        f = fetches(world, domains)
        calls = {k[8:]: int(v.split(",")[0].split("=")[1]) -
                 int(before.get(k, "calls=0,").split(",")[0].split("=")[1])
                 for k, v in mid.items() if k.startswith("cmdstat_")}
        calls["info"] -= 1
        print(f"cold, 3 nodes x {nprocs} processes, {n} domains: "
              f"{wall:.1f} s; policy fetches {f} ({f / n:.3f} per domain); "
              f"Redis commands {cmds} ({cmds / n:.2f} per domain); "
              f"per node [network, cache, undecided]: {counts}; "
              f"commands by name: {({k: v for k, v in calls.items() if v})}")
        wall, counts = run_nodes(configs, shards)
        after = stats(redis)
        print(f"warm, the same again: {wall:.1f} s; Redis commands "
              f"{int(after['total_commands_processed']) - int(mid['total_commands_processed']) - 1}, "
              f"connections {int(after['total_connections_received']) - int(mid['total_connections_received']) - 1}; "
              f"per node: {counts}")
        used = int(after["used_memory"]) - int(before["used_memory"])
        key = redis.cli("MEMORY", "USAGE",
                        f"mtasts:policy:{domains[0]}").strip()
        print(f"Redis memory: {used / n:.0f} bytes per policy "
              f"(used_memory); one policy key: {key} bytes (MEMORY USAGE)")
        if "--alone" in sys.argv:
            configs = [node_config(world, x + "-alone", None) for x in "abc"]
            f0 = fetches(world, domains)
            wall, counts = run_nodes(configs, shards)
            f = fetches(world, domains) - f0
            print(f"alone (no fleet), cold: {wall:.1f} s; policy fetches "
                  f"{f} ({f / n:.3f} per domain); per node: {counts}")
    finally:
        redis.stop()
        world.stop()
        subprocess.run(["rm", "-rf", world.dir])


if __name__ == "__main__":
    main()
