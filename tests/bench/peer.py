"""Benchmark (not a test): mtasts side by side with its peer, Debian's
postfix-mta-sts-resolver (1.1.2: Python asyncio, c-ares for TXT queries,
aiohttp for the policy fetch).  As root:

  /usr/bin/python3 tests/bench/peer.py [N] [RUNS]

The peer is installed with apt-get when missing, for this benchmark only
(mtasts never depends on it), with python3-uvloop, which Debian's package
recommends and its daemon then runs on.  Then, in private network and
mount namespaces (the world's DNS on port 53, named by a bind-mounted
/etc/resolv.conf, and its policy hosts on 443, as the peer has no other
way to be pointed at them), the loopback world serves N domains with
enforce policies, and RUNS times each, mtasts and the peer interleaved:

- cold discovery of the N domains, 32 at a time (mtasts' default
  concurrency; the peer gets 32 socketmap connections), with two CA
  bundles: the world's one root, and Debian's real bundle
  (/etc/ssl/certs/ca-certificates.crt) with the world's root added, as an
  operator's would be.  mtasts: `mtasts lookup --no-cache --file`, a whole
  process.  The peer: a fresh `mta-sts-daemon` each run (its cache is in
  memory, so every query is a miss), its CPU read from /proc just before
  the first query and after the last answer, so its Python start-up is not
  counted (mtasts' start-up is).  The peer reads its CA store where
  OpenSSL's defaults say: SSL_CERT_FILE names the bundle, SSL_CERT_DIR an
  empty directory.  Every run must find all N, or the figures mean nothing.
- where mtasts' time goes (tests/bench/discovery_floor.c), with Debian's
  bundle: the policy fetch as mtasts makes it, against the same GET with
  OpenSSL alone and one SSL_CTX (what TLS costs at best); a TXT query as
  mtasts asks it, against libunbound's event API without its thread.
- warm decisions: mtasts' in-process lookup (cache_bench warm) and a
  warm `mtasts lookup --file` process; the peer's cached socketmap answer,
  whose figures include a TCP round trip (the daemon's CPU per query, and
  the latency seen by one client connection).

The world's DNS and HTTPS servers are Python threads of this process, and
share the machine's cores with the client measured: client CPU is the
figure to compare, wall time is what one machine gave both."""
import asyncio
import importlib.util
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.join(HERE, "..", "..", "build")
MTASTS = os.environ.get("MTASTS", os.path.join(BUILD, "module", "cli",
                                               "mtasts"))
CACHE_BENCH = os.path.join(BUILD, "tests", "bench", "cache_bench")
FLOOR = os.path.join(BUILD, "tests", "bench", "discovery_floor")
SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
PEER_PACKAGE = "postfix-mta-sts-resolver"
PEER_RECOMMENDS = ["python3-uvloop"]  # as a default apt-get install has it
PEER_DAEMON = "/usr/bin/mta-sts-daemon"
PEER_PORT = 8461
CONCURRENCY = 32  # mtasts' default (common/config.c)
WARM_QUERIES = 5000  # enough daemon CPU for /proc's 10 ms ticks
TICK = os.sysconf("SC_CLK_TCK")


def install_peer():
    """apt-get install, before entering the namespaces (they have no
    network), without starting its service."""
    if os.path.exists(PEER_DAEMON) and importlib.util.find_spec("uvloop"):
        return
    rc_path = "/usr/sbin/policy-rc.d"
    made = not os.path.exists(rc_path)
    if made:  # invoke-rc.d asks it: 101 means "do not start"
        with open(rc_path, "w") as f:
            f.write("#!/bin/sh\nexit 101\n")
        os.chmod(rc_path, 0o755)
    try:
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends",
                        PEER_PACKAGE, *PEER_RECOMMENDS], check=True,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    finally:
        if made:
            os.unlink(rc_path)


sys.path.insert(0, os.path.join(HERE, "..", "world"))
if os.environ.get("MTASTS_IN_NETNS") != "1":
    install_peer()
import netns  # noqa: E402

netns.enter()

from world import HTTPS_IP, World  # noqa: E402


# --- measuring a child ------------------------------------------------------

def run_measured(args):
    """Runs args; returns (stdout, wall seconds, (user, system) CPU
    seconds, peak RSS in KiB) of that child alone (wait4, not
    RUSAGE_CHILDREN, which would mix in the peer's daemons)."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err)
        out = p.stdout.read()
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - start
        p.returncode = os.waitstatus_to_exitcode(status)
        p.stdout.close()
        if p.returncode not in (0, 1):
            err.seek(0)
            sys.exit(f"{args[0]}: exit {p.returncode}: {err.read().decode()}")
    return out, wall, (usage.ru_utime, usage.ru_stime), usage.ru_maxrss


def proc_cpu(pid):
    """(user, system) CPU seconds of every thread of pid so far
    (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICK, int(fields[12]) / TICK


def proc_peak_rss(pid):
    """Peak RSS of pid in KiB (VmHWM)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


# --- mtasts -----------------------------------------------------------------

def mtasts_lookups(config, list_file, cache=False):
    """One `mtasts lookup --file` process: (status counts, wall, (user,
    system) CPU, peak RSS)."""
    args = [MTASTS, "lookup", "--config", config, "--json", "--file",
            list_file]
    if not cache:
        args.append("--no-cache")
    out, wall, cpu, rss = run_measured(args)
    counts, errors = {}, set()
    for r in json.loads(out)["results"]:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
        error = r.get("error") or (r.get("policy") or {}).get("error")
        if error:
            errors.add(error.get("message", ""))
    if errors or "errored" in counts:
        # what failed, for the reader of an invalid run
        print("  mtasts:", counts, sorted(errors)[:3], file=sys.stderr)
    return counts, wall, cpu, rss


def mtasts_in_process_us():
    """cache_bench warm: µs per lookup of a cached policy through the
    public API, in one process."""
    with tempfile.TemporaryDirectory() as d:
        out = subprocess.run([CACHE_BENCH, "warm", os.path.join(d, "c"),
                              "1000000"], capture_output=True, text=True,
                             check=True).stdout
    return float(out.split("(")[1].split()[0])


# --- the peer ---------------------------------------------------------------

def peer_env(bundle, workdir):
    """The environment that makes OpenSSL's default store bundle alone:
    an empty SSL_CERT_DIR keeps /usr/lib/ssl/certs out."""
    empty = os.path.join(workdir, "no-certs")
    os.makedirs(empty, exist_ok=True)
    return dict(os.environ, SSL_CERT_FILE=bundle, SSL_CERT_DIR=empty)


def peer_store_size(env):
    """Roots in the store the peer's aiohttp gets (ssl's default
    context), under env."""
    code = ("import ssl; "
            "print(ssl.create_default_context().cert_store_stats()"
            "['x509_ca'])")
    return int(subprocess.run(["/usr/bin/python3", "-c", code], env=env,
                              capture_output=True, text=True,
                              check=True).stdout)


class PeerDaemon:
    """mta-sts-daemon on 127.0.0.1:PEER_PORT with its in-memory cache,
    fresh (so cold) until stop()."""

    def __init__(self, workdir, env, size):
        config = os.path.join(workdir, "mta-sts-daemon.yml")
        with open(config, "w") as f:
            # cache_grace a day: warm answers come from the cache, not from
            # a renewed TXT query.  (reuse_port stays on: 1.1.2 cannot
            # listen without it; stop() waits for each daemon's end, so no
            # two share the port.)
            f.write(f"host: 127.0.0.1\nport: {PEER_PORT}\n"
                    f"cache_grace: 86400\ncache:\n  type: internal\n"
                    f"  options:\n    cache_size: {size}\n"
                    f"default_zone:\n  strict_testing: false\n  timeout: 4\n")
        self.log = os.path.join(workdir, "mta-sts-daemon.log")
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen([PEER_DAEMON, "-c", config],
                                         stdout=log, stderr=log, env=env)
        self._wait_listening()

    def _wait_listening(self):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                socket.create_connection(("127.0.0.1", PEER_PORT)).close()
                return
            except ConnectionRefusedError:
                time.sleep(0.05)
        self.stop()
        with open(self.log) as f:
            sys.exit(f"mta-sts-daemon did not start:\n{f.read()}")

    def event_loop(self):
        with open(self.log) as f:
            return "uvloop" if "uvloop enabled" in f.read() else "asyncio's"

    def cpu(self):
        return proc_cpu(self.proc.pid)

    def peak_rss(self):
        return proc_peak_rss(self.proc.pid)

    def stop(self):
        # the figures are read: no need for its graceful (1 s+) shutdown
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


def netstring(text):
    data = text.encode()
    return b"%d:%s," % (len(data), data)


async def socketmap_query(reader, writer, domain):
    """Postfix's question for domain (map name "postfix"), its answer."""
    writer.write(netstring("postfix " + domain))
    await writer.drain()
    length = await reader.readuntil(b":")
    answer = await reader.readexactly(int(length[:-1]) + 1)
    return answer[:-1].decode()


async def socketmap_all(domains, connections):
    """Asks every domain over that many connections, each asking its next
    question when answered; returns [(answer, seconds)]."""
    todo = iter(domains)
    results = []

    async def client():
        reader, writer = await asyncio.open_connection("127.0.0.1", PEER_PORT)
        for domain in todo:
            start = time.perf_counter()
            answer = await socketmap_query(reader, writer, domain)
            results.append((answer, time.perf_counter() - start))
        writer.close()
        await writer.wait_closed()

    await asyncio.gather(*(client() for _ in range(connections)))
    return results


def peer_queries(daemon, domains, connections):
    """(answers starting "OK", wall, daemon's (user, system) CPU,
    latencies) for one pass."""
    before = daemon.cpu()
    start = time.perf_counter()
    results = asyncio.run(socketmap_all(domains, connections))
    wall = time.perf_counter() - start
    cpu = tuple(b - a for a, b in zip(before, daemon.cpu()))
    found = sum(answer.startswith("OK ") for answer, _ in results)
    if found != len(domains):
        # what it said instead, and why (its log), for the reader
        print("  the peer's other answers:", sorted(
            {a for a, _ in results if not a.startswith("OK ")})[:3],
            file=sys.stderr)
        with open(daemon.log) as f:
            sys.stderr.write(f.read()[-2000:])
    return found, wall, cpu, [seconds for _, seconds in results]


def peer_cold(workdir, env, domains):
    """A fresh daemon's discovery of domains: (found, wall, (user,
    system) CPU, peak RSS)."""
    daemon = PeerDaemon(workdir, env, len(domains) + 1)
    try:
        found, wall, cpu, _ = peer_queries(daemon, domains, CONCURRENCY)
        return found, wall, cpu, daemon.peak_rss()
    finally:
        daemon.stop()


# --- the world --------------------------------------------------------------

def system_and_world(world):
    """Debian's bundle with the world's root: an operator's bundle."""
    bundle = os.path.join(world.dir, "system-and-world.pem")
    with open(bundle, "w") as out:
        for path in (SYSTEM_BUNDLE, world.ca.cert_file):
            with open(path) as f:
                out.write(f.read())
    return bundle


def config_with_bundle(world, bundle, name):
    """A copy of the world's mtasts configuration naming bundle."""
    with open(world.config) as f:
        text = f.read().replace(world.ca.cert_file, bundle)
    path = os.path.join(world.dir, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def count_roots(bundle):
    with open(bundle) as f:
        return f.read().count("BEGIN CERTIFICATE")


# --- the runs ---------------------------------------------------------------

def check_peer_store(world, bundles, domains):
    """The peer's store is the bundle given, nothing more: its root count
    under each, and with an empty bundle no policy host is trusted."""
    for label, bundle, _ in bundles:
        print(f"peer's CA store with {label}: "
              f"{peer_store_size(peer_env(bundle, world.dir))} roots")
    empty = os.path.join(world.dir, "empty.pem")
    open(empty, "w").close()
    daemon = PeerDaemon(world.dir, peer_env(empty, world.dir), 5)
    try:
        found, _, _, _ = peer_queries(daemon, domains[:5], 1)
        print(f"peer's event loop: {daemon.event_loop()}")
    finally:
        daemon.stop()
    print(f"peer with an empty bundle: {found} of 5 found (must be 0)")
    if found:
        sys.exit("the peer trusts roots beyond SSL_CERT_FILE")


def cold_runs(world, bundles, domains, list_file, runs):
    """RUNS rounds of both programs on both bundles, interleaved (who goes
    first alternates); returns {(label, program): [(wall, CPU, RSS)]}."""
    n = len(domains)
    figures = {}
    for run in range(runs):
        for label, bundle, config in bundles:
            order = ["mtasts", "peer"] if run % 2 == 0 else ["peer", "mtasts"]
            for program in order:
                if program == "mtasts":
                    counts, wall, cpu, rss = mtasts_lookups(config, list_file)
                    found = counts.get("found", 0)
                else:
                    found, wall, cpu, rss = peer_cold(
                        world.dir, peer_env(bundle, world.dir), domains)
                print(f"  run {run + 1}, {label}, {program}: {found}/{n} "
                      f"found, {wall:.2f} s, CPU {sum(cpu) * 1000 / n:.2f} "
                      f"ms each ({cpu[0] * 1000 / n:.2f} user, "
                      f"{cpu[1] * 1000 / n:.2f} system)", flush=True)
                if found != n:
                    sys.exit(f"{program} found {found} of {n}: invalid")
                figures.setdefault((label, program), []).append(
                    (wall, sum(cpu), rss))
    return figures


def print_cold(figures, bundles, n, runs):
    print(f"\ncold discovery, {n} domains, {CONCURRENCY} at a time, "
          f"median of {runs} runs (every run found {n}/{n})")
    print(f"{'CA bundle':<34}{'CPU ms per discovery':>26}"
          f"{'wall s':>16}{'peak RSS MiB':>16}")
    print(f"{'':<34}{'mtasts':>9}{'peer':>8}{'ratio':>9}"
          f"{'mtasts':>8}{'peer':>8}{'mtasts':>8}{'peer':>8}")
    for label, _, _ in bundles:
        ours, theirs = figures[(label, "mtasts")], figures[(label, "peer")]

        def median(rows, i):
            return statistics.median(row[i] for row in rows)
        cpu_ours = median(ours, 1) * 1000 / n
        cpu_theirs = median(theirs, 1) * 1000 / n
        print(f"{label:<34}{cpu_ours:>9.2f}{cpu_theirs:>8.2f}"
              f"{cpu_ours / cpu_theirs:>9.2f}"
              f"{median(ours, 0):>8.2f}{median(theirs, 0):>8.2f}"
              f"{max(r[2] for r in ours) / 1024:>8.1f}"
              f"{max(r[2] for r in theirs) / 1024:>8.1f}")
    print("ratio: mtasts CPU / peer CPU;"
          " peer CPU without its Python start-up, mtasts' with its own")


def floors(config, n, runs):
    """Where an mtasts discovery's CPU goes, part by part, each against
    what the library underneath costs at best (discovery_floor.c), with
    the operator's bundle; medians of RUNS."""
    kinds = [
        ("fetch", "HTTPS fetch as mtasts makes it (libcurl multi, "
                  f"{CONCURRENCY} at a time)"),
        ("openssl", "the same GET, OpenSSL alone, one SSL_CTX "
                    "(the TLS floor)"),
        ("dns", "a DNS query as mtasts asks it (libunbound, its thread)"),
        ("dns-event", "the same query, libunbound's event API, no thread"),
    ]
    print(f"\nwhere a discovery's CPU goes, {n} of each, Debian's bundle, "
          f"median of {runs} runs (a discovery: 3 DNS queries, 1 fetch)")
    for kind, text in kinds:
        args = [FLOOR, kind, config] + (
            [HTTPS_IP] if kind in ("fetch", "openssl") else []) + [
            str(n), "d%d.bench.example"]
        figures = []
        for _ in range(runs):
            out = subprocess.run(args, capture_output=True, text=True)
            if out.returncode != 0:
                sys.exit(f"discovery_floor {kind}: {out.stdout}{out.stderr}")
            figures.append(float(out.stdout.split(", ")[1].split()[0]))
        print(f"  {text}: {statistics.median(figures) / 1000:.2f} ms CPU")


def warm(world, bundle, config, domains, list_file):
    """Warm decisions, after a discovery that filled each cache."""
    n = len(domains)
    print(f"\nwarm decisions, {n} cached domains, bundle {bundle}")
    print(f"  mtasts in process (cache_bench warm, public API): "
          f"{mtasts_in_process_us():.2f} us per lookup")
    counts, _, _, _ = mtasts_lookups(config, list_file, cache=True)
    counts, wall, cpu, rss = mtasts_lookups(config, list_file, cache=True)
    if counts.get("cached", 0) != n:
        sys.exit(f"warm mtasts lookup: {counts}, not {n} cached")
    print(f"  mtasts lookup --file process, {n} cached: {wall * 1000:.1f} ms"
          f" wall, CPU {sum(cpu) * 1e6 / n:.0f} us per domain (process "
          f"start-up included), peak RSS {rss / 1024:.1f} MiB")
    daemon = PeerDaemon(world.dir, peer_env(bundle, world.dir), n + 1)
    try:
        found, _, _, _ = peer_queries(daemon, domains, CONCURRENCY)
        rounds = max(1, WARM_QUERIES // n)
        found, wall, cpu, _ = peer_queries(daemon, domains * rounds,
                                           CONCURRENCY)
        if found != n * rounds:
            sys.exit(f"warm peer: {found} of {n * rounds} OK")
        print(f"  peer socketmap, {n * rounds} cached answers over "
              f"{CONCURRENCY} connections: daemon CPU "
              f"{sum(cpu) * 1e6 / (n * rounds):.0f} us per answer, "
              f"{n * rounds / wall:.0f} answers/s")
        _, _, _, latencies = peer_queries(daemon, domains, 1)
        print(f"  peer socketmap, one connection, one query at a time: median"
              f" {statistics.median(latencies) * 1e6:.0f} us per answer "
              f"(a TCP round trip included), peak RSS "
              f"{daemon.peak_rss() / 1024:.1f} MiB")
    finally:
        daemon.stop()


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    domains = [f"d{i}.bench.example" for i in range(n)]
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    version = subprocess.run(["dpkg-query", "-W", "-f", "${Version}",
                              PEER_PACKAGE], capture_output=True,
                             text=True).stdout
    print(f"mtasts vs {PEER_PACKAGE} {version}: {n} domains, {runs} runs, "
          f"{os.cpu_count()} CPUs, load average {load}")
    world = World(scenarios={}, real_ports=True,
                  extra_config="txt_recheck = 86400\n")
    try:
        netns.use_resolver(world.dir)
        for d in domains:
            world.add(d)  # enforce, mx1/mx2 of the domain, a certificate each
        system = system_and_world(world)
        bundles = [
            (f"world's root ({count_roots(world.ca.cert_file)})",
             world.ca.cert_file, world.config),
            (f"Debian's + world's ({count_roots(system)})", system,
             config_with_bundle(world, system, "system.conf")),
        ]
        check_peer_store(world, bundles, domains)
        with tempfile.NamedTemporaryFile("w") as f:
            f.write("\n".join(domains) + "\n")
            f.flush()
            figures = cold_runs(world, bundles, domains, f.name, runs)
            print_cold(figures, bundles, n, runs)
            floors(bundles[1][2], n, runs)
            warm(world, system, bundles[1][2], domains, f.name)
    finally:
        netns.unbind_all()
        world.stop()


if __name__ == "__main__":
    main()
