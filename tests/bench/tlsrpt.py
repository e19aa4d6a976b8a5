"""Benchmark (not a test): what counting TLS-RPT sessions costs an Exim
delivery.  As root:

  /usr/bin/python3 tests/bench/tlsrpt.py [N] [RUNS]

Exim (exim.conf as shipped) delivers to an enforce domain whose MX is a
loopback STARTTLS sink, one message at a time with `exim -odf` (each a full
delivery: fork, route, connect, STARTTLS, verify, deliver, and at the end
of the session the TLS-RPT line appended to the spool).  Batches of N
deliveries rotate between tlsrpt = yes, tlsrpt = no, and exim.conf without
the transports' event_action (the configuration before TLS-RPT), RUNS
batches each; the figure is the CPU time of Exim's processes (user +
system, from the children's rusage) per delivery, median over the
batches, and the differences.  Then `mtasts tlsrpt show` folds what was spooled: its time per
session."""
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "world"))
import netns  # noqa: E402

netns.enter()

from exim import Exim, minimal_config, tlsrpt_spool  # noqa: E402
from mail_world import GOOD, MailWorld  # noqa: E402

BUILD = os.path.join(HERE, "..", "..", "build")
SO = os.path.join(BUILD, "exim", "mtasts_exim.so")
MTASTS = os.path.join(BUILD, "module", "cli", "mtasts")
DOMAIN = "enforce-good.example"


def cpu_children():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def batch(exim, n):
    """CPU ms of Exim per delivery over n deliveries."""
    before = cpu_children()
    for _ in range(n):
        if exim.send("bob@" + DOMAIN) is None:
            sys.exit("a delivery failed")
    return (cpu_children() - before) * 1000 / n


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    spool_parent, spool = tlsrpt_spool()
    mail = MailWorld({DOMAIN: ("enforce", GOOD)},
                     extra_config="cache_group = mtasts\n"
                                  f"tlsrpt_spool = {spool}\n")
    w = mail.world
    netns.add_group(w.dir, "mtasts", ["Debian-exim"])
    with open(w.config) as f:
        base = f.read()
    conf = os.path.join(BUILD, "exim", "exim.conf")
    with open(conf) as f:
        shipped = f.read()
    before = os.path.join(w.dir, "exim-before.conf")
    with open(before, "w") as f:
        f.write(shipped.replace("event_action = MTASTS_TLSRPT\n", ""))
    configs = {
        "event": minimal_config(conf, SO, w.config, w.ca.cert_file),
        "none": minimal_config(before, SO, w.config, w.ca.cert_file)}
    exim = Exim(os.path.join(w.dir, "exim"), configs["event"])
    exim.send("bob@" + DOMAIN)  # the policy cached
    cases = (("tlsrpt = yes", "event", "yes"), ("tlsrpt = no", "event", "no"),
             ("no event_action", "none", "no"))
    figures = {name: [] for name, _, _ in cases}
    for _ in range(runs):
        for name, conf_name, setting in cases:
            exim.configure(configs[conf_name])
            with open(w.config, "w") as f:
                f.write(base + f"tlsrpt = {setting}\n")
            figures[name].append(batch(exim, n))
    exim.configure(configs["event"])
    delivered = len(mail.sinks[GOOD].received(DOMAIN))
    print(f"{delivered} deliveries, {runs} batches of {n} each way")
    med = {name: statistics.median(v) for name, v in figures.items()}
    for name, v in figures.items():
        print(f"Exim CPU per delivery, {name}: {med[name]:.2f} ms "
              f"(batches: {', '.join(f'{x:.2f}' for x in v)})")
    base_ms = med["no event_action"]
    for name in ("tlsrpt = yes", "tlsrpt = no"):
        print(f"{name} against no event_action: "
              f"{med[name] - base_ms:+.3f} ms per delivery "
              f"({(med[name] - base_ms) / base_ms * 100:+.1f}%)")
    with open(w.config, "w") as f:
        f.write(base + "tlsrpt = yes\n")
    start = time.perf_counter()
    p = subprocess.run([MTASTS, "tlsrpt", "show", "--config", w.config],
                       capture_output=True, text=True)
    took = time.perf_counter() - start
    print(p.stdout.strip())
    sessions = n * runs
    print(f"mtasts tlsrpt show, folding {sessions} sessions: {took:.3f} s "
          f"({took / sessions * 1e6:.0f} us per session)")
    mail.stop()
    shutil.rmtree(spool_parent, ignore_errors=True)


if __name__ == "__main__":
    main()
