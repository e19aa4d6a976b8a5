"""Benchmark (not a test): Exim deliveries per second to a loopback SMTP
sink, with and without the mtasts module, warm cache.  As root:

  /usr/bin/python3 tests/bench/exim.py [N] [RUNS]

Each run submits N messages one after another with `exim -odf` (each a
full Exim delivery: fork, route, connect, STARTTLS, deliver).  Without the
module: a plain Exim configuration delivering with opportunistic TLS.  With
it: exim.conf as shipped, the domain under an enforce policy (so the MX is
checked and the certificate verified).  Prints the medians and the time
the module adds per delivery."""
import os
import resource
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


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
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
        for i in range(runs + 1):
            for label, (domain, config) in configs.items():
                exim = Exim(os.path.join(w.dir, label.split()[0]), config)
                if i == 0:
                    exim.send("bob@" + domain)  # warm-up: policy cached
                else:
                    rates[label].append(rate(exim, domain, n))
                netns.unbind_all()
                netns.use_resolver(w.dir)
        results = {label: statistics.median(r) for label, r in rates.items()}
        # the module alone: one Exim process expanding mtasts_mode (load
        # the module, read the configuration, a cached lookup) against one
        # expanding a constant
        exim = Exim(os.path.join(w.dir, "be"), configs[
            "with mtasts (enforce)"][1])
        expand = {
            "constant": "${if eq{enforce}{enforce}{enforce}}",
            "mtasts_mode": "${dlfunc{%s}{mtasts_mode}"
                           "{enforce.bench.example}{%s}}" % (so, w.config)}
        per_process = {k: [] for k in expand}
        cpu = {k: [] for k in expand}
        for _ in range(runs):
            for label, text in expand.items():
                start = time.perf_counter()
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                for _ in range(n):
                    out = subprocess.run(["/usr/sbin/exim4", "-be", text],
                                         capture_output=True, text=True)
                    assert out.stdout.strip() == "enforce", out
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                per_process[label].append(
                    (time.perf_counter() - start) * 1000 / n)
                cpu[label].append((after.ru_utime - before.ru_utime +
                                   after.ru_stime - before.ru_stime) *
                                  1000 / n)
        netns.unbind_all()
        got = len(mail.sinks[GOOD].received("enforce.bench.example"))
        assert got == runs * n + 1, got
        for label, r in results.items():
            print(f"Exim deliveries {label}: median {r:.1f} per second "
                  f"({1000 / r:.1f} ms each), {runs} runs of {n}")
        added = 1000 / results["with mtasts (enforce)"] - \
            1000 / results["without mtasts"]
        print(f"whole deliveries, difference: {added:+.1f} ms "
              "(the two configurations differ in more than the module)")
        base = statistics.median(per_process["constant"])
        mod = statistics.median(per_process["mtasts_mode"])
        print(f"one Exim process expanding mtasts_mode: {mod:.2f} ms, a "
              f"constant: {base:.2f} ms: the module adds {mod - base:.2f} ms "
              "per process that uses it (load, configuration, cached "
              "lookup)")
        base = statistics.median(cpu["constant"])
        mod = statistics.median(cpu["mtasts_mode"])
        print(f"CPU of one such process: {mod:.2f} ms with mtasts_mode, "
              f"{base:.2f} ms with a constant: {mod - base:+.2f} ms "
              f"({(mod - base) / base * 100:+.1f}%)")
    finally:
        mail.stop()


if __name__ == "__main__":
    main()
