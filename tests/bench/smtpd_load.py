"""Many sessions through a real OpenSMTPD 6.8 with filter-mtasts (the
shipped smtpd.conf), as in issue 23 part 7b: 60 messages in 20 concurrent
sessions to 20 domains without a policy and 6 enforce domains, every MX on
two loopback sinks.  Prints how long until every accepted recipient
reached its sink, how many table reloads ran, and what smtpd still queued.

  sudo MTASTS_FILTER=build/opensmtpd/filter-mtasts MTASTS=build/module/cli/mtasts \\
      PYTHONPATH=tests/world /usr/bin/python3 tests/bench/smtpd_load.py [--limits]

--limits "KEY VALUE ..." adds "mta limit KEY VALUE ..." to smtpd.conf
(smtpd.conf(5)); --limits alone: "conn-delay-route 0 reconn-delay-route 0
max-conn-per-route 100 max-conn-per-host 100", smtpd's own pacing of
connections to one MX host off (doc/performance.md).  Runs in under a
minute (needs root: private namespaces)."""
import os
import random
import smtplib
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "world"))
import netns  # noqa: E402
import opensmtpd  # noqa: E402

netns.enter(addrconfig=True)
from mail_world import GOOD, PLAIN2, MailWorld  # noqa: E402

LIMITS = None
if "--limits" in sys.argv:
    i = sys.argv.index("--limits")
    LIMITS = (sys.argv[i + 1] if i + 1 < len(sys.argv) else
              "conn-delay-route 0 reconn-delay-route 0 "
              "max-conn-per-route 100 max-conn-per-host 100")
PLAIN_DOMAINS = [f"nopolicy{i}.example" for i in range(20)]
ENFORCE_DOMAINS = [f"enforce{i}.example" for i in range(6)]
CONF = os.path.join(os.path.dirname(__file__), "..", "..", "build",
                    "opensmtpd", "smtpd.conf")


def main():
    domains = {d: (None, PLAIN2) for d in PLAIN_DOMAINS}
    domains.update({d: ("enforce", GOOD) for d in ENFORCE_DOMAINS})
    mail = MailWorld(domains, extra_config=(
        "cache_dir = /var/lib/mtasts/cache\ncache_group = mtasts\n"))
    w = mail.world
    conf = os.path.abspath(os.environ.get("MTASTS_SMTPD_CONF", CONF))
    if LIMITS:
        fd, path = tempfile.mkstemp(suffix=".conf", dir=w.dir)
        with open(conf) as f, os.fdopen(fd, "w") as out:
            text = f.read()
            out.write(text.replace(
                "\ntable aliases", f"\nmta limit {LIMITS}\ntable aliases",
                1))
        os.chmod(path, 0o644)
        conf = path
    smtpd = opensmtpd.Smtpd(os.path.join(w.dir, "smtpd"), conf,
                            os.environ["MTASTS_FILTER"], w.config,
                            w.ca.cert_file, os.environ["MTASTS"])
    rng = random.Random(7)
    accepted, refused, lock = [], [], threading.Lock()

    def session(n):
        with smtplib.SMTP("127.0.0.1", 25, timeout=120) as s:
            s.ehlo("client.example")
            for m in range(3):
                s.mail("alice@client.example")
                ok = []
                for d in rng.sample(PLAIN_DOMAINS + ENFORCE_DOMAINS,
                                    rng.randint(1, 3)):
                    rcpt = f"u{n}m{m}@{d}"
                    code, _ = s.rcpt(rcpt)
                    (ok if code == 250 else refused).append(rcpt)
                if ok:
                    s.data(f"Subject: {n}/{m}\r\n\r\nhello\r\n")
                    with lock:
                        accepted.extend(ok)
                else:
                    s.rset()

    start = time.monotonic()
    threads = [threading.Thread(target=session, args=(n,))
               for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sent = time.monotonic() - start

    def delivered():
        got = set()
        for sink in mail.sinks.values():
            for m in sink.received():
                got.update(m.recipients)
        return got

    while time.monotonic() - start < 50 and \
            not set(accepted) <= delivered():
        time.sleep(0.2)
    took = time.monotonic() - start
    missing = set(accepted) - delivered()
    queued = smtpd.queue().count("\n")
    print(f"mta limit {LIMITS or '(as shipped)'}: "
          f"{len(accepted)} recipients accepted, {len(refused)} refused "
          f"(451, retried by a real client) in {sent:.1f} s; "
          f"{len(accepted) - len(missing)} delivered after {took:.1f} s, "
          f"{len(missing)} not ({sorted({r.split('@')[1] for r in missing})[:5]}...); "
          f"queue lines {queued}; table reloads {len(smtpd.reload_status)}",
          flush=True)
    if os.environ.get("SMTPD_LOAD_LOG"):
        with open(os.environ["SMTPD_LOAD_LOG"], "w") as f:
            f.write(smtpd.logtext() + "\n--- queue\n" + smtpd.queue())
    smtpd.stop()
    mail.stop()


if __name__ == "__main__":
    main()
