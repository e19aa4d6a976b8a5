"""The demo: a real Exim with mtasts_exim.so sends one message to each demo
domain of a loopback world (DNS, HTTPS policy hosts, SMTP sinks), inside
private network and mount namespaces, and prints what happened.

  /usr/bin/python3 demo/exim_demo.py BUILD_DIR     (as root)"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "world"))
import netns  # noqa: E402

netns.enter()

from exim import Exim, minimal_config  # noqa: E402
from mail_world import (ATTACKER, GOOD, PLAIN, SINK_NAMES,  # noqa: E402
                        WRONG, MailWorld)

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
DOMAINS = {
    "enforce-good.example": ("enforce", GOOD),
    "enforce-rogue.example": ("enforce", GOOD, ATTACKER),
    "enforce-plain.example": ("enforce", PLAIN),
    "testing-badcert.example": ("testing", WRONG),
    "nopolicy.example": (None, PLAIN),
}


def outcome(exim, msgid):
    if msgid is None:  # never the whole log in its place
        return "unknown"
    log = exim.mainlog(msgid)
    if " => " in log:
        return "delivered"
    if " == " in log:
        return "deferred"
    return "?"


def main():
    mail = MailWorld(DOMAINS, extra_config="cache_group = Debian-exim\n")
    w = mail.world
    try:
        exim = Exim(os.path.join(w.dir, "exim"), minimal_config(
            os.path.join(BUILD, "exim", "exim.conf"),
            os.path.join(BUILD, "exim", "mtasts_exim.so"), w.config,
            w.ca.cert_file))
        print(f"{'domain':<25} {'policy':<8} {'Exim':<10} "
              "what the receiving servers got")
        for domain, (mode, *_) in DOMAINS.items():
            msgid = exim.send("bob@" + domain)
            got = [f"{SINK_NAMES[a]}: {'TLS' if tls else 'cleartext'}"
                   for a in mail.sinks for tls in mail.got(a, domain)]
            print(f"{domain:<25} {mode or '-':<8} "
                  f"{outcome(exim, msgid):<10} {'; '.join(got) or 'nothing'}")
        print("\nExim's main log, MTA-STS lines:")
        for line in exim.mainlog().splitlines():
            if "MTA-STS" in line or "did not offer TLS" in line:
                print("  " + line[20:])
    finally:
        mail.stop()


if __name__ == "__main__":
    main()
