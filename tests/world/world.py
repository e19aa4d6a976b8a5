"""The loopback test world: a DNS server, a test CA, an HTTPS server for
policy hosts (plus a tarpit and a closed address), and the mtasts
configuration that points at them.  Scenarios are plain data: a domain, its
TXT records, and what its policy host does.

Run as a program, it starts the world with every scenario and prints the
configuration file's path, until it is killed (for the demo)."""
import os
import re
import shutil
import signal
import sys
import tempfile
import threading

from dns_server import DnsServer, Zone
from https_server import HttpsServer, HttpsServer6, Site, Tarpit
from pki import CA

HTTPS_IP = "127.0.0.1"
TARPIT_IP = "127.0.0.2"
CLOSED_IP = "127.0.0.3"


def policy(mode="enforce", mx=("mx1.{d}", "mx2.{d}"), max_age="86400",
           eol="\r\n"):
    lines = ["version: STSv1", "mode: " + mode]
    lines += ["mx: " + m for m in mx]
    lines.append("max_age: " + max_age)
    return eol.join(lines) + eol


GOOD = policy()

# domain -> scenario.  txt: the TXT records at _mta-sts (a list; None: the
# name does not exist); site: keyword arguments of Site; expect: (status,
# error code) of a lookup without a cache; or_code: another code that is
# right too; verdict: what an MTA does
# (default: the policy's mode when found, else none).
SCENARIOS = {
    "crlf.example": dict(expect=("found", None)),
    "lf.example": dict(site=dict(body=policy(eol="\n")),
                       expect=("found", None)),
    "charset.example": dict(site=dict(ctype="text/plain; charset=utf-8"),
                            expect=("found", None)),
    "testing.example": dict(site=dict(body=policy("testing")),
                            expect=("found", None)),
    "none.example": dict(site=dict(body=policy("none", mx=())),
                         expect=("found", None)),
    "wildcard.example": dict(site=dict(body=policy(mx=("*.wildcard.example",))),
                             expect=("found", None)),
    "cname.example": dict(txt="cname", expect=("found", None)),
    # bücher.example: looked up in A-labels
    "xn--bcher-kva.example": dict(expect=("found", None)),
    "junktxt.example": dict(txt=["v=spf1 -all", "v=STSv1; id=junk1",
                                 "hello world"],
                            expect=("found", None)),
    "notxt.example": dict(txt=[], expect=("not_found", "dns_nodata")),
    "nxdomain.example": dict(txt=None, site=None,
                             expect=("not_found", "dns_nxdomain")),
    "nosts.example": dict(txt=["v=spf1 -all"],
                          expect=("not_found", "no_sts_record")),
    # a TXT query nobody answered says nothing of the domain: defer
    "servfail.example": dict(dns="servfail", expect=("errored", "dns_error"),
                             verdict="defer"),
    # unbound itself may give up on a server that never answers before our
    # deadline (sooner while other queries to it succeed: 3.6 s beside the
    # other scenarios, 17 s alone) and then says SERVFAIL: either way defer
    "txttimeout.example": dict(dns="timeout", expect=("errored", "timeout"),
                               or_code="dns_error", verdict="defer"),
    "twotxt.example": dict(txt=["v=STSv1; id=one", "v=STSv1; id=two"],
                           expect=("errored", "multi_sts_records")),
    "badid.example": dict(txt=["v=STSv1; id=not-valid!"],
                          expect=("errored", "invalid_sts_id")),
    "redirect.example": dict(site=dict(status=301, location=(
        "https://mta-sts.crlf.example/.well-known/mta-sts.txt")),
        expect=("errored", "http_redirect")),
    "404.example": dict(site=dict(status=404, body="not here"),
                        expect=("errored", "http_status_404")),
    "500.example": dict(site=dict(status=500, body="oops"),
                        expect=("errored", "http_status_500")),
    "html.example": dict(site=dict(ctype="text/html"),
                         expect=("errored", "http_content_type")),
    "notype.example": dict(site=dict(ctype=None),
                           expect=("errored", "http_content_type")),
    "huge.example": dict(site=dict(body=GOOD + "x: " + "y" * (1 << 20)),
                         expect=("errored", "policy_too_large")),
    # the cap holds whatever the length header says, or without one
    "hugenolength.example": dict(
        site=dict(body=GOOD + "x: " + "y" * (1 << 20), how="nolength"),
        expect=("errored", "policy_too_large")),
    # a refusal with a large page is a refusal, not an oversized policy
    "huge404.example": dict(site=dict(status=404, body="z" * (1 << 20)),
                            expect=("errored", "http_status_404")),
    "drip.example": dict(site=dict(how="drip"), expect=("errored", "timeout")),
    "silent.example": dict(ip=TARPIT_IP, expect=("errored", "timeout")),
    "refused.example": dict(ip=CLOSED_IP,
                            expect=("errored", "http_connect_error")),
    "cut.example": dict(site=dict(how="cut"),
                        expect=("errored", "http_incomplete")),
    "hang.example": dict(site=dict(how="hang"), expect=("errored", "timeout")),
    "expired.example": dict(cert="expired",
                            expect=("errored", "tls_cert_time")),
    "wrongname.example": dict(cert="wrongname",
                              expect=("errored", "tls_error")),
    "untrusted.example": dict(cert="untrusted",
                              expect=("errored", "tls_error")),
    "badmaxage.example": dict(site=dict(body=policy(max_age="-1")),
                              expect=("errored", "invalid_sts_max_age")),
    "nomx.example": dict(site=dict(body=policy(mx=())),
                         expect=("errored", "invalid_sts_mx")),
    "nohost.example": dict(ip=None, expect=("errored", "dns_nxdomain")),
}


def executable(path, text):
    """A program at path (mode 0755) of text, a script for /bin/sh as a
    rule: the stand-ins for sendmail and smtpctl.  Returns path."""
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o755)
    return path


def expected_verdict(domain):
    s = SCENARIOS[domain]
    if "verdict" in s:
        return s["verdict"]
    if s["expect"][0] != "found":
        return "none"
    return (s.get("site") or {}).get("body", GOOD).split("mode: ")[1].split()[0]


def with_settings(text, settings):
    """An mtasts.conf's text with settings ("key = value" lines) at the
    end of its [mtasts] section, in place of those it has of the same
    names (mtasts refuses a setting given twice; connect_to is a list)."""
    for line in settings.splitlines():
        name = line.split("=")[0].strip()
        if "=" in line and name != "connect_to":
            text = re.sub(rf"(?m)^{re.escape(name)} =.*\n", "", text)
    cut = (text + "\n[domain ").index("\n[domain ") + 1
    return text[:cut] + "".join(
        line + "\n" for line in settings.splitlines()) + text[cut:]


class World:
    """Starts everything on loopback; stop() ends it and removes its files.
    config is the path of the mtasts configuration file."""

    def __init__(self, scenarios=SCENARIOS, directory=None, extra_config="",
                 real_ports=False):
        """real_ports: DNS on port 53 and HTTPS on 443 (inside a private
        network namespace), so that the world needs no connect_to."""
        self.real_ports = real_ports
        self.dir = directory or tempfile.mkdtemp(prefix="mtasts-world-")
        self.ca = CA(os.path.join(self.dir, "ca"))
        self.stranger = CA(os.path.join(self.dir, "stranger"),
                           name="stranger CA")
        self.zone = Zone()
        self.dns = DnsServer(self.zone, port=53 if real_ports else 0).start()
        self.wrong_cert = self.ca.issue("wrongname", ["mta-sts.other.example"])
        default = self.ca.issue("default", ["default.example"])
        self.https = HttpsServer(HTTPS_IP, 443 if real_ports else 0, {},
                                 default)
        self.port = self.https.server_address[1]
        self.https.start()
        if real_ports:
            # the policy hosts on ::1 too, for IPv4/IPv6 comparisons
            self.https6 = HttpsServer6("::1", 443, {}, default)
            self.https6.sites = self.https.sites
            self.https6.start()
        self.tarpit = Tarpit(TARPIT_IP, self.port)
        for domain, s in scenarios.items():
            self.add(domain, **s)
        self.cache_dir = os.path.join(self.dir, "cache")
        self.config = os.path.join(self.dir, "mtasts.conf")
        self.write_config(extra_config)

    def write_config(self, extra=""):
        """The world's [mtasts] settings, those of extra in their place
        (mtasts refuses a setting given twice); extra's own sections
        after them."""
        connect_to = ("" if self.real_ports else
                      f"; policy hosts answer on port {self.port} of their "
                      f"loopback address\nconnect_to = :443::{self.port}\n")
        text = f"""# the loopback test world
[mtasts]
resolver = 127.0.0.1@{self.dns.port}
ca_bundle = {self.ca.cert_file}
{connect_to}dns_timeout = 2
connect_timeout = 2
fetch_timeout = 3
cache_dir = {self.cache_dir}
"""
        lines = extra.splitlines(keepends=True)
        first = next((i for i, line in enumerate(lines)
                      if line.startswith("[")), len(lines))
        with open(self.config, "w") as f:
            f.write(with_settings(text, "".join(lines[:first])) +
                    "".join(lines[first:]))

    def add(self, domain, txt=("v=STSv1; id={id}",), site=(), ip=HTTPS_IP,
            cert="good", dns=None, expect=None, or_code=None, verdict=None,
            policy_id="20261122", mx=None):
        """One domain: its TXT records, its policy host and its MX hosts
        (mx: [(preference, name, address)], default mx1 and mx2 of the
        domain on 127.0.0.1)."""
        z = self.zone
        host = "mta-sts." + domain
        if dns is not None:
            z.set_behaviour("_mta-sts." + domain, dns)
        if txt == "cname":
            z.add("_mta-sts." + domain, "CNAME", "sts-record.provider.example")
            z.add("sts-record.provider.example", "TXT",
                  f"v=STSv1; id={policy_id}")
        elif txt is not None:
            for t in txt:
                z.add("_mta-sts." + domain, "TXT", t.format(id=policy_id))
            if not txt:
                z.add("_mta-sts." + domain, "A", "192.0.2.1")  # NODATA
        if ip is not None:
            z.add(host, "A", ip)
        if mx is None:
            mx = [(10, f"mx1.{domain}", "127.0.0.1"),
                  (20, f"mx2.{domain}", "127.0.0.1")]
        for pref, name, address in mx:
            z.add(domain, "MX", (pref, name))
            if not self.zone.records.get(name) and address is not None:
                z.add(name, "AAAA" if ":" in address else "A", address)
        if site is None:
            return
        kwargs = dict(site)
        kwargs.setdefault("body", GOOD.format(d=domain))
        if isinstance(kwargs["body"], str):
            kwargs["body"] = kwargs["body"].format(d=domain)
        if os.path.sep in cert:  # a certificate file already issued
            kwargs["cert"] = cert
        elif cert == "good":
            kwargs["cert"] = self.ca.issue(domain, [host])
        elif cert == "expired":
            kwargs["cert"] = self.ca.issue(domain, [host], expired=True)
        elif cert == "wrongname":
            kwargs["cert"] = self.wrong_cert
        else:
            kwargs["cert"] = self.stranger.issue(domain, [host])
        self.https.sites[host] = Site(**kwargs)

    def add_site(self, domain, body, cert="good"):
        """A policy host for domain serving body (its DNS is the caller's)."""
        host = "mta-sts." + domain
        path = (self.ca.issue(domain, [host]) if cert == "good" else cert)
        self.https.sites[host] = Site(body=body, cert=path)

    def fetches(self, domain):
        return self.https.fetches("mta-sts." + domain)

    def stop(self):
        self.https.stop()
        if self.real_ports:
            self.https6.stop()
        self.tarpit.stop()
        self.dns.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def main():
    world = World(directory=sys.argv[1] if len(sys.argv) > 1 else None)
    print(world.config, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    stop.wait()
    world.stop()


if __name__ == "__main__":
    main()
