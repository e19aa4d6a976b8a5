"""The operator's path, on a Debian 12 where the mtasts packages are
installed (tools/fresh-check --deb runs it in a fresh debootstrap): Exim
is switched to the split configuration of an Internet site the Debian way
(update-exim4.conf), the real exim4 daemon is started, and mail is
submitted over SMTP on port 25.  Nothing of mtasts is configured by hand:
/etc/mtasts/mtasts.conf, the cache, the group and the conf.d snippets are
the packages'.

The loopback world stands in for the Internet, in private network and
mount namespaces: its DNS answers on 127.0.0.1:53 (resolv.conf), its
policy hosts on 443 with a test CA that is added to the system's CA store
(update-ca-certificates: the world's stand-in for the Web PKI), and the
receiving MX hosts are STARTTLS sinks on port 25 of other loopback
addresses.  Checks what each sink received and whether over TLS:
  enforce, good MX     delivered over verified TLS
  enforce, MX without STARTTLS   deferred, nothing sent anywhere
  testing, MX without STARTTLS   delivered, the violation logged
With tlsrpt = yes (the one setting) the sessions are counted.  The
timers' services then run under a real systemd (systemd_container.py),
sandboxed as the packages install them: mtasts-refresh, then
mtasts-tlsrpt, which mails enforce-good.example's report to the address
its TLSRPT record names the default way: by SMTP to the Exim daemon on
127.0.0.1:25 (tlsrpt_relay's default; no sendmail, no privilege), which
relays it for localhost as Debian configures it; then mtasts-metrics,
whose file must say what the two did.

  /usr/bin/python3 tests/deb/exim_installed.py     (as root)"""
import json
import os
import re
import shutil
import smtplib
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "world"))
import netns  # noqa: E402

netns.enter()

from mail_world import GOOD, PLAIN, MailWorld  # noqa: E402
from systemd_container import Systemd  # noqa: E402

DOMAINS = {
    "enforce-good.example": ("enforce", GOOD),
    "enforce-plain.example": ("enforce", PLAIN),
    "testing-plain.example": ("testing", PLAIN),
}
MAINLOG = "/var/log/exim4/mainlog"
# where Debian's prometheus-node-exporter reads *.prom (mtasts-metrics)
TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"
CONFIG = "/etc/mtasts/mtasts.conf"
AS_MTASTS = ["setpriv", "--reuid=mtasts", "--regid=mtasts", "--init-groups"]


def debian_exim_internet_site():
    """What an operator sets with dpkg-reconfigure exim4-config: an
    Internet site, the split configuration; then update-exim4.conf."""
    path = "/etc/exim4/update-exim4.conf.conf"
    with open(path) as f:
        text = f.read()
    for key, value in (("dc_eximconfig_configtype", "internet"),
                       ("dc_use_split_config", "true")):
        text = re.sub(rf"^{key}=.*$", f"{key}='{value}'", text, flags=re.M)
    with open(path, "w") as f:
        f.write(text)
    subprocess.run(["update-exim4.conf"], check=True)


def trust(ca_file):
    shutil.copy(ca_file, "/usr/local/share/ca-certificates/mtasts-world.crt")
    subprocess.run(["update-ca-certificates"], check=True,
                   capture_output=True)


def submit(rcpt):
    with smtplib.SMTP("127.0.0.1", 25, timeout=30) as s:
        s.sendmail("alice@client.example", [rcpt],
                   f"From: alice@client.example\nTo: {rcpt}\n"
                   f"Subject: {rcpt}\n\nHello.\n")


def turn_on_tlsrpt():
    """The operator's one setting."""
    with open(CONFIG) as f:
        text = f.read()
    with open(CONFIG, "w") as f:
        f.write(re.sub(r"^tlsrpt = no$", "tlsrpt = yes", text, flags=re.M))


def tlsrpt(*args):
    """mtasts tlsrpt as the timer runs it (user mtasts)."""
    p = subprocess.run([*AS_MTASTS, "mtasts", "tlsrpt", *args, "--json"],
                       capture_output=True, text=True, timeout=120)
    print(p.stderr, end="")
    return p.returncode, p.stdout


def log_lines(domain):
    if not os.path.exists(MAINLOG):
        return []
    with open(MAINLOG) as f:
        return [line for line in f if domain in line]


def settled(domain):
    """Delivered (=>) or deferred (==) in the main log."""
    return any(" => " in line or " == " in line for line in log_lines(domain))


def check_units(units, mail, today, check):
    """mtasts-refresh, mtasts-tlsrpt and mtasts-metrics started under
    systemd; the report of today's sessions (a drop-in: the timer sends
    the day that ended) handed to Exim on 127.0.0.1:25 and mailed on over
    TLS; the metrics file says what the two runs did."""
    ok, log = units.start("mtasts-refresh.service")
    # the three cached policies checked against DNS, ids unchanged
    check(ok and re.search(r"^  renewed: 3$", log, re.M) and
          "errors: (none)" in log,
          f"mtasts-refresh.service renewed the three policies, sandboxed "
          f"({log[-600:]})")
    units.drop_in("mtasts-tlsrpt.service", "today",
                  "[Service]\nExecStart=\nExecStart=/usr/bin/mtasts tlsrpt "
                  f"send --config {CONFIG} --date {today}")
    ok, log = units.start("mtasts-tlsrpt.service")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(
            mail.sinks[GOOD].received("enforce-good.example")) < 2:
        time.sleep(0.5)
    reports = [m for m in mail.sinks[GOOD].received(
        "enforce-good.example") if "tlsrpt@" in m.recipients[0]]
    check(ok and len(reports) == 1 and reports[0].tls and
          b"TLS-Report-Domain: enforce-good.example" in (
              reports[0].data if isinstance(reports[0].data, bytes)
              else reports[0].data.encode()) and
          "handed to 127.0.0.1:25: 250 " in log,
          "mtasts-tlsrpt.service: the report handed to Exim on "
          f"127.0.0.1:25 by SMTP, and mailed on over TLS ({log[-600:]})")
    os.makedirs(TEXTFILE_DIR, exist_ok=True)
    ok, log = units.start("mtasts-metrics.service")
    try:
        with open(os.path.join(TEXTFILE_DIR, "mtasts.prom")) as f:
            prom = f.read()
    except OSError as e:
        prom = str(e)
    check(ok and re.search(r'^mtasts_refresh_last_outcome\{outcome="ok"\} 1$',
                           prom, re.M) and
          re.search(r'^mtasts_tlsrpt_send_last_reports\{result="sent"\} 1$',
                    prom, re.M),
          f"mtasts-metrics.service wrote what the two runs did ({log[-300:]}"
          f" {prom[-600:]})")


def check_upgrade_warning(check):
    """An upgrade to a version that refuses the operator's file (it reads
    mtasts.conf more strictly than some before): the postinst says so,
    and installs all the same."""
    with open(CONFIG) as f:
        kept = f.read()
    try:
        with open(CONFIG, "a") as f:
            f.write("[domain partner.example]\nmode = enforce\n"
                    "  mode = none\n")
        p = subprocess.run(["/var/lib/dpkg/info/mtasts.postinst",
                            "configure"], capture_output=True, text=True,
                           timeout=120)
        check(p.returncode == 0 and "WARNING" in p.stderr and
              CONFIG + ":" in p.stderr and "given twice" in p.stderr,
              f"postinst: a refused mtasts.conf is warned of "
              f"({p.returncode}: {p.stderr.strip()})")
    finally:
        with open(CONFIG, "w") as f:
            f.write(kept)


def main():
    start = time.monotonic()
    mail = MailWorld(DOMAINS)
    daemon = None
    failures = []

    def check(ok, what):
        print(f"{'ok  ' if ok else 'FAIL'} {what}")
        if not ok:
            failures.append(what)

    try:
        trust(mail.world.ca.cert_file)
        debian_exim_internet_site()
        turn_on_tlsrpt()
        mail.world.zone.add(
            "_smtp._tls.enforce-good.example", "TXT",
            "v=TLSRPTv1; rua=mailto:tlsrpt@enforce-good.example")
        daemon = subprocess.Popen(["/usr/sbin/exim4", "-bd", "-q10s"])
        for _ in range(50):
            try:
                smtplib.SMTP("127.0.0.1", 25, timeout=2).quit()
                break
            except OSError:
                time.sleep(0.2)
        for domain in DOMAINS:
            submit("bob@" + domain)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(
                settled(d) for d in DOMAINS):
            time.sleep(0.5)
        # a forced queue run: the deferred message tried again must still
        # go nowhere (a later run sending it in the clear would be the bug)
        subprocess.run(["/usr/sbin/exim4", "-qff"], check=False, timeout=60)
        got = {d: {a: mail.got(a, d) for a in mail.sinks} for d in DOMAINS}
        check(got["enforce-good.example"][GOOD] == [True] and sum(
            len(v) for v in got["enforce-good.example"].values()) == 1,
            "enforce, good MX: delivered once, over TLS "
            f"({got['enforce-good.example']})")
        check(any("CV=yes" in line and " => " in line
                  for line in log_lines("enforce-good.example")),
              "enforce, good MX: the certificate verified (CV=yes)")
        check(all(v == [] for v in got["enforce-plain.example"].values()) and
              sum(" == " in line
                  for line in log_lines("enforce-plain.example")) >= 2,
              "enforce, MX without STARTTLS: deferred twice (a forced "
              "queue run too), nothing sent")
        check(got["testing-plain.example"][PLAIN] == [False],
              "testing, MX without STARTTLS: delivered (cleartext)")
        check(any("MTA-STS testing: testing-plain.example: MX "
                  "mx.testing-plain.example: enforce would refuse: "
                  "no STARTTLS" in line
                  for line in log_lines("testing-plain.example")),
              "testing: the violation logged")
        today = time.strftime("%Y-%m-%d", time.gmtime())
        rc, out = tlsrpt("show", "--date", today)
        days = json.loads(out)["domains"] if rc == 0 else {}

        def counted(domain):
            return [(p["type"], p["success"],
                     sorted({d["result"] for d in p["details"]}))
                    for p in days.get(domain, [])]
        check(counted("enforce-good.example") == [("sts", 1, [])] and
              counted("testing-plain.example") ==
              [("sts", 0, ["starttls-not-supported"])] and
              counted("enforce-plain.example") ==
              [("sts", 0, ["starttls-not-supported"])],
              f"TLS-RPT: the sessions counted ({days})")
        # the timers' services as systemd runs them: their sandbox, user
        # and paths (module/systemd), and what each did
        units = Systemd()
        try:
            check_units(units, mail, today, check)
        finally:
            units.stop()
        check_upgrade_warning(check)
    finally:
        if daemon is not None:
            daemon.terminate()
            daemon.wait()
        mail.stop()
    if failures:
        print("--- Exim's main log:")
        if os.path.exists(MAINLOG):
            with open(MAINLOG) as f:
                sys.stdout.write(f.read())
        for path in ("/var/log/exim4/paniclog",):
            if os.path.exists(path):
                with open(path) as f:
                    sys.stdout.write("--- " + path + ":\n" + f.read())
    print(f"exim_installed: {len(failures)} failed, "
          f"{time.monotonic() - start:.0f} s")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
