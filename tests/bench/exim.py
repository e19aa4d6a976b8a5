"""Benchmark (not a test): Exim deliveries per second to a loopback SMTP
sink, with and without the mtasts module, warm cache.  As root:

  /usr/bin/python3 tests/bench/exim.py [N] [RUNS]

Each run submits N messages one after another with `exim -odf` (each a
full Exim delivery: fork, route, connect, STARTTLS, deliver).  Without the
module: a plain Exim configuration delivering with opportunistic TLS.  With
it: exim.conf as shipped, the domain under an enforce policy (so the MX is
checked and the certificate verified).  Prints the medians and the time
the module adds per delivery.

Then the module's own cost in one Exim process: `exim -be` expanding
mtasts_mode (load the module, read the configuration, a cached lookup)
against `exim -be` expanding a constant, RUNS x 4 x N processes of each
taking turns; the median CPU time of one process is the figure (wall time
moves more on a shared machine).  --compare OTHER.so adds another build
of the module to the same turns (a before/after in one sitting; with
build/tests/bench/dlfunc_floor.so, the floor: a module that does nothing);
--module-only skips the deliveries; --fleet makes this build's
configuration a fleet node's (fleet = ..., never reached by a warm
lookup), against --compare's with the plain one.  --inside then runs as many again
with tests/bench/exim_inside.c preloaded, which times (CPU, minor page
faults) Exim's dlopen() of the module and the call of mtasts_mode apart
from the rest of the process."""
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "world"))
import netns  # noqa: E402

netns.enter()

from exim import Exim, macros, minimal_config  # noqa: E402
from mail_world import GOOD, MailWorld  # noqa: E402
from world import with_settings  # noqa: E402

BUILD = os.path.join(HERE, "..", "..", "build")
WITHOUT = """
never_users = root
keep_environment =
host_lookup = !*
tls_verify_certificates = MTASTS_CA
begin routers
dnslookup:
  driver = dnslookup
  transport = remote_smtp
begin transports
remote_smtp:
  driver = smtp
begin retry
*   *   F,2h,15m
"""


def rate(exim, domain, n):
    start = time.perf_counter()
    for _ in range(n):
        exim.send("bob@" + domain)
    return n / (time.perf_counter() - start)


def inside_figures(expand, count, workdir):
    """Exim's dlopen() and the mtasts_mode call timed inside each process
    (tests/bench/exim_inside.c), the modules taking turns."""
    log = os.path.join(workdir, "inside.log")
    env = dict(os.environ, LD_PRELOAD=os.path.join(
        BUILD, "tests", "bench", "exim_inside.so"),
        MTASTS_BENCH_LOG=log, MTASTS_BENCH_FN="mtasts_mode")
    modules = {label: text for label, text in expand.items()
               if "dlfunc" in text}
    for _ in range(count):
        for text in modules.values():
            subprocess.run(["/usr/sbin/exim4", "-be", text], env=env,
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=True)
    rows = {}
    with open(log) as f:
        for line in f:
            path, *values = line.split()
            rows.setdefault(path, []).append([float(v) for v in values])
    for label, text in modules.items():
        path = text.split("{")[2].split("}")[0]
        columns = list(zip(*rows[path]))
        o_us, o_faults, c_us, c_faults = (statistics.median(c)
                                          for c in columns)
        print(f"inside exim -be, {label}: dlopen {o_us:.0f} us CPU, "
              f"{o_faults:.0f} page faults; the call {c_us:.0f} us CPU, "
              f"{c_faults:.0f} page faults (medians of {len(columns[0])})")


def main():
    args = sys.argv[1:]
    compare = None
    if "--compare" in args:
        at = args.index("--compare")
        compare = os.path.abspath(args[at + 1])
        del args[at:at + 2]
    module_only = "--module-only" in args
    inside = "--inside" in args
    fleet = "--fleet" in args
    args = [a for a in args
            if a not in ("--module-only", "--inside", "--fleet")]
    n = int(args[0]) if len(args) > 0 else 100
    runs = int(args[1]) if len(args) > 1 else 3
    domains = {"plain.bench.example": (None, GOOD),
               "enforce.bench.example": ("enforce", GOOD)}
    mail = MailWorld(domains, extra_config="cache_group = Debian-exim\n"
                     "txt_recheck = 86400\n")
    w = mail.world
    so = os.path.join(BUILD, "exim", "mtasts_exim.so")
    configs = {
        "without mtasts": ("plain.bench.example",
                           macros(so, w.config, w.ca.cert_file) + WITHOUT),
        "with mtasts (enforce)": ("enforce.bench.example", minimal_config(
            os.path.join(BUILD, "exim", "exim.conf"), so, w.config,
            w.ca.cert_file)),
    }
    rates = {label: [] for label in configs}
    try:
        # interleaved, so that both see the same machine
        for i in range(1 if module_only else runs + 1):
            for label, (domain, config) in configs.items():
                exim = Exim(os.path.join(w.dir, label.split()[0]), config)
                if i == 0:
                    exim.send("bob@" + domain)  # warm-up: policy cached
                else:
                    rates[label].append(rate(exim, domain, n))
                netns.unbind_all()
                netns.use_resolver(w.dir)
        results = {label: statistics.median(r) for label, r in rates.items()
                   if r}
        # the module alone: one Exim process expanding mtasts_mode (load
        # the module, read the configuration, a cached lookup) against one
        # expanding a constant
        exim = Exim(os.path.join(w.dir, "be"), configs[
            "with mtasts (enforce)"][1])
        expand = {"a constant": "${if eq{enforce}{enforce}{enforce}}"}
        node = w.config
        if fleet:  # this build as a fleet's node (a warm lookup never
            # reaches the fleet); --compare's with the world's config
            node = w.config + ".fleet"
            with open(w.config) as f, open(node, "w") as out:
                out.write(with_settings(
                    f.read(), "fleet = redis+unix:///run/mtasts-none.sock"))
        for label, path, config in (
                ("mtasts_mode", so, node),
                ("mtasts_mode, --compare", compare, w.config)):
            if path is not None:
                expand[label] = ("${dlfunc{%s}{mtasts_mode}"
                                 "{enforce.bench.example}{%s}}" %
                                 (path, config))
        # interleaved process by process, each one's own CPU time (wait4):
        # the median of single processes, not of batch means, which one
        # slow moment of this shared machine moves
        cpu = {k: [] for k in expand}
        for _ in range(runs * 4 * n):
            for label, text in expand.items():
                p = subprocess.Popen(["/usr/sbin/exim4", "-be", text],
                                     stdout=subprocess.PIPE, text=True,
                                     stderr=subprocess.DEVNULL)
                out = p.stdout.read()
                p.stdout.close()
                _, status, usage = os.wait4(p.pid, 0)
                p.returncode = os.waitstatus_to_exitcode(status)
                assert out.strip() == "enforce", (out, status)
                cpu[label].append((usage.ru_utime + usage.ru_stime) * 1000)
        if inside:
            inside_figures(expand, runs * 4 * n, w.dir)
        netns.unbind_all()
        got = len(mail.sinks[GOOD].received("enforce.bench.example"))
        assert got == (0 if module_only else runs * n) + 1, got
        for label, r in results.items():
            print(f"Exim deliveries {label}: median {r:.1f} per second "
                  f"({1000 / r:.1f} ms each), {runs} runs of {n}")
        if results:
            added = 1000 / results["with mtasts (enforce)"] - \
                1000 / results["without mtasts"]
            print(f"whole deliveries, difference: {added:+.1f} ms "
                  "(the two configurations differ in more than the module)")
        base = statistics.median(cpu["a constant"])
        for label, batches in cpu.items():
            mod = statistics.median(batches)
            print(f"CPU of one exim -be process expanding {label}: "
                  f"{mod:.2f} ms (median of {len(batches)} processes; "
                  f"{mod - base:+.2f} ms, {(mod - base) / base * 100:+.1f}%)")
    finally:
        mail.stop()


if __name__ == "__main__":
    main()
