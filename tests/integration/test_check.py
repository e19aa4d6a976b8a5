"""mtasts check and mtasts init against the loopback world, in private
namespaces (root): every finding is produced by a scenario built for it,
a clean domain produces none, and what init prints, once published in the
world, passes check without an error."""
import json
import os
import subprocess
import unittest

import netns

if os.geteuid() == 0:
    netns.enter()

from dnssec import Signer
from smtp_sink import BrokenSink, Sink
from world import World, policy

MTASTS = os.environ["MTASTS"]
GOOD, WRONG, PLAIN, OLD, EXPIRED, STRANGER, DRIP, BADTLS = (
    "127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.16", "127.0.0.17",
    "127.0.0.18", "127.0.0.20", "127.0.0.21")
DOWN = "127.0.0.15"  # nothing listens there
V6CLOSED = "fd00::25"  # added to loopback; nothing listens there either
TWO_WEEKS = "1209600"
RPT = "v=TLSRPTv1; rua=mailto:tls@{d}"

# domain -> changes to a clean domain, and the findings it must produce
# (codes; a clean domain produces none).  Keys of the changes:
#   txt: TXT records at _mta-sts; apex: TXT at the domain; cname: True;
#   site: Site arguments; ip / ip6: policy host addresses;
#   mx: [(pref, name, address)]; mx6: [(name, IPv6 address)] beside;
#   pat: the policy's mx patterns;
#   rpt: TXT records at _smtp._tls; tlsa: True
SCENARIOS = {
    "clean.example": ({}, set()),
    "txt-missing.example": (dict(txt=None), {"txt_missing"}),
    "txt-multiple.example": (dict(txt=["v=STSv1; id=1", "v=STSv1; id=2"]),
                             {"txt_multiple"}),
    "txt-invalid.example": (dict(txt=["v=STSv1; id=not-ok"]),
                            {"txt_invalid"}),
    "txt-apex.example": (dict(apex=["v=STSv1; id=1"]), {"txt_at_apex"}),
    "txt-cname.example": (dict(cname=True), {"txt_cname"}),
    "redirect.example": (dict(site=dict(status=301, location="https://x/")),
                         {"policy_http_redirect"}),
    "status.example": (dict(site=dict(status=404)),
                       {"policy_http_status_404"}),
    "ctype.example": (dict(site=dict(ctype="text/html")),
                      {"policy_http_content_type"}),
    "big.example": (dict(site=dict(body="x" * 70000)),
                    {"policy_policy_too_large"}),
    "expired.example": (dict(cert="expired"), {"policy_tls_cert_time"}),
    "policyname.example": (dict(cert="wrongname"), {"policy_tls_error"}),
    "policyca.example": (dict(cert="untrusted"), {"policy_tls_error"}),
    "slow.example": (dict(site=dict(how="hang")), {"policy_timeout"}),
    "syntax.example": (dict(site=dict(body=policy(max_age="-5"))),
                       {"policy_invalid_sts_max_age"}),
    "nohost.example": (dict(ip=None), {"policy_host_missing"}),
    # ::2 is on no interface of the namespace: IPv6 fails at once
    "v4only.example": (dict(ip6="::2"), {"policy_ipv4_only"}),
    "v6only.example": (dict(ip=DOWN, ip6="::1"), {"policy_ipv6_only"}),
    "agent.example": (dict(site=dict(require_ua=True)),
                      {"policy_blocks_no_user_agent"}),
    "lf.example": (dict(site=dict(body=policy(max_age=TWO_WEEKS, eol="\n",
                                              mx=("mx.{d}",)))),
                   {"policy_lf_line_endings"}),
    "testing.example": (dict(mode="testing"), {"mode_testing"}),
    "none.example": (dict(mode="none", pat=()), {"mode_none"}),
    "short.example": (dict(max_age="86400"), {"max_age_short"}),
    "long.example": (dict(max_age="31557600"), {"max_age_long"}),
    "longtest.example": (dict(mode="testing", max_age="2592000"),
                         {"mode_testing", "max_age_long"}),
    "ipmx.example": (dict(pat=("mx.{d}", "127.0.0.11")),
                     {"pattern_ip_address", "pattern_stale"}),
    "uncovered.example": (dict(mx=[(10, "mx.uncovered.example", GOOD),
                                   (20, "mx.other.example", GOOD)]),
                          {"mx_not_covered"}),
    "stale.example": (dict(pat=("mx.{d}", "old.{d}")), {"pattern_stale"}),
    "deep.example": (dict(mx=[(10, "a.b.deep.example", GOOD)],
                          pat=("*.deep.example",)),
                     {"pattern_wildcard_depth", "mx_not_covered"}),
    "nomx.example": (dict(mx=[]), {"mx_missing"}),
    "down.example": (dict(mx=[(10, "mx.down.example", DOWN)]),
                     {"mx_unreachable"}),
    "plain.example": (dict(mx=[(10, "mx.plain.example", PLAIN)]),
                      {"mx_no_starttls"}),
    "drip.example": (dict(mx=[(10, "mx.drip.example", DRIP)]),
                     {"mx_unreachable"}),
    "badtls.example": (dict(mx=[(10, "mx.badtls.example", BADTLS)]),
                       {"mx_tls_failed"}),
    "v6mx.example": (dict(mx=[(10, "mx.v6mx.example", "::1")]), set()),
    # V6CLOSED is on loopback, nothing listens there: the MX's fault
    "v4mx.example": (dict(mx=[(10, "mx.v4mx.example", GOOD)],
                          mx6=[("mx.v4mx.example", V6CLOSED)]),
                     {"mx_ipv4_only"}),
    # ::2 has no route from here: not the MX's fault, not a finding
    "v6noroute.example": (dict(mx=[(10, "mx.v6noroute.example", GOOD)],
                               mx6=[("mx.v6noroute.example", "2001:db8::2")]),
                          set()),
    "oldtls.example": (dict(mx=[(10, "mx.oldtls.example", OLD)]),
                       {"mx_tls_old"}),
    "certexp.example": (dict(mx=[(10, "mx.certexp.example", EXPIRED)]),
                        {"mx_cert_expired"}),
    "stranger.example": (dict(mx=[(10, "mx.stranger.example", STRANGER)]),
                         {"mx_cert_untrusted"}),
    "wrongname.example": (dict(mx=[(10, "mx.wrongname.example", WRONG)]),
                          {"mx_cert_name"}),
    "norpt.example": (dict(rpt=[]), {"tlsrpt_missing"}),
    "badrpt.example": (dict(rpt=["v=TLSRPTv1;"]), {"tlsrpt_invalid"}),
    "httprpt.example": (dict(rpt=["v=TLSRPTv1; rua=http://r.example/"]),
                        {"tlsrpt_rua_scheme"}),
    "dane.example": (dict(tlsa=True), {"dane_present"}),
}


def build(world, domain, c):
    z = world.zone
    mode = c.get("mode", "enforce")
    pats = [p.format(d=domain) for p in c.get("pat", ("mx.{d}",))]
    site = dict(body=policy(mode, mx=pats,
                            max_age=c.get("max_age", TWO_WEEKS)))
    site.update(c.get("site", {}))
    txt = c.get("txt", ["v=STSv1; id={id}"])
    mx = c.get("mx", [(10, f"mx.{domain}", GOOD)])
    world.add(domain, txt="cname" if c.get("cname") else txt, site=site,
              ip=c.get("ip", "127.0.0.1"), cert=c.get("cert", "good"),
              mx=mx)
    if txt is None:
        z.remove("_mta-sts." + domain)
    if "ip6" in c:
        z.add("mta-sts." + domain, "AAAA", c["ip6"])
    for t in c.get("apex", []):
        z.add(domain, "TXT", t)
    for t in c.get("rpt", [RPT.format(d=domain)]):
        z.add("_smtp._tls." + domain, "TXT", t)
    for name, address in c.get("mx6", []):
        z.add(name, "AAAA", address)
    if c.get("tlsa"):
        z.add(f"_25._tcp.mx.{domain}", "TLSA", "030101" + "ab" * 32)


def check(world, *args):
    p = subprocess.run([MTASTS, "check", "--config", world.config, "--json",
                        *args], capture_output=True, timeout=120)
    return p.returncode, json.loads(p.stdout), p.stderr.decode()


def codes(report):
    return {f["code"] for f in report["issues"] + report["recommendations"]}


@unittest.skipUnless(os.geteuid() == 0, "needs root (namespaces)")
class Check(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        subprocess.run(["ip", "-6", "addr", "add", V6CLOSED + "/128", "dev",
                        "lo"], check=True)
        w = cls.world = World(scenarios={}, real_ports=True)
        good_names = [f"mx.{d}" for d, (c, _) in SCENARIOS.items()
                      if c.get("mx", [(0, 0, GOOD)])
                      and c.get("mx", [(0, 0, GOOD)])[0][2] == GOOD]
        good_names += ["mx.other.example", "a.b.deep.example",
                       "mx.secure.example", "mx.v4mx.example",
                       "mx.v6noroute.example",
                       "mx1.mail.fresh.example", "mx2.mail.fresh.example"]
        cls.sinks = [
            Sink(GOOD, cert=w.ca.issue("sink-good", good_names)),
            Sink("::1", cert=w.ca.issue("sink-v6", ["mx.v6mx.example"])),
            Sink(WRONG, cert=w.ca.issue("sink-wrong", ["x.other.example"])),
            Sink(PLAIN),
            Sink(OLD, cert=w.ca.issue("sink-old", ["mx.oldtls.example"]),
                 old_tls=True),
            Sink(EXPIRED, cert=w.ca.issue("sink-exp", ["mx.certexp.example"],
                                          expired=True)),
            Sink(STRANGER, cert=w.stranger.issue(
                "sink-stranger", ["mx.stranger.example"])),
            BrokenSink(DRIP, "drip"),
            BrokenSink(BADTLS, "badtls"),
        ]
        for domain, (changes, _) in SCENARIOS.items():
            build(w, domain, changes)

    @classmethod
    def tearDownClass(cls):
        for s in cls.sinks:
            s.stop()
        netns.unbind_all()
        cls.world.stop()

    def test_each_finding(self):
        rc, out, err = check(self.world, *SCENARIOS)
        reports = {r["domain"]: r for r in out["results"]}
        for domain, (_, expected) in SCENARIOS.items():
            with self.subTest(domain=domain):
                got = codes(reports[domain])
                self.assertTrue(expected <= got,
                                f"{domain}: {expected - got} missing "
                                f"from {sorted(got)}")
                self.assertEqual(got - expected, set(),
                                 f"{domain}: unexpected findings")
        self.assertEqual(rc, 1)

    def test_clean_domain(self):
        rc, r, err = check(self.world, "clean.example")
        self.assertEqual(rc, 0, err)
        self.assertEqual((r["issues"], r["recommendations"]), ([], []))
        self.assertTrue(r["has_mta_sts"])
        self.assertEqual(r["mode"], "enforce")
        self.assertEqual(r["policy"]["parsed"]["mx"], ["mx.clean.example"])
        self.assertEqual(r["dns_record"]["parsed"]["id"], "20261122")
        mx = r["mx_hosts"][0]
        self.assertEqual((mx["host"], mx["starttls"], mx["tls_version"]),
                         ("mx.clean.example", True, "TLSv1.3"))
        self.assertEqual(mx["patterns_matched"], ["mx.clean.example"])
        cert = mx["certificate"]
        self.assertTrue(cert["trusted"] and cert["valid_for_name"])
        self.assertIn("mx.clean.example", cert["sans"])
        self.assertEqual(r["tls_rpt"]["rua"], ["mailto:tls@clean.example"])
        self.assertEqual(r["policy"]["fetch"]["no_user_agent"], "ok")
        # the probe named the MX host it meant (SNI)
        self.assertIn("mx.clean.example", self.sinks[0].sni)

    def test_every_finding_is_explained(self):
        rc, out, _ = check(self.world, "plain.example", "norpt.example")
        for r in out["results"]:
            for f in r["issues"] + r["recommendations"]:
                self.assertIn(f["severity"], ("error", "warning", "info"))
                self.assertTrue(f["message"] and f["fix"])

    def test_text_report_and_bulk_summary(self):
        listing = os.path.join(self.world.dir, "domains")
        with open(listing, "w") as f:
            f.write("clean.example\n# partners\nplain.example\n")
        p = subprocess.run([MTASTS, "check", "--config", self.world.config,
                            "--file", listing], capture_output=True,
                           text=True, timeout=120)
        self.assertEqual(p.returncode, 1)
        self.assertIn("mx_no_starttls", p.stdout)
        self.assertIn("fix: ", p.stdout)
        self.assertRegex(p.stdout, r"clean\.example\s+enforce\s+0\s+0")
        self.assertRegex(p.stdout, r"plain\.example\s+enforce\s+1\s+0")

    def test_bytes_that_are_not_utf8(self):
        # Latin-1 in the TXT and TLS-RPT records: the JSON stays valid, the
        # bytes are shown as \xNN, the findings are all there
        w, d = self.world, "latin1.example"
        build(w, d, dict(txt=[], rpt=[]))
        w.zone.add("_mta-sts." + d, "TXT", [b"v=STSv1; id=caf\xe9"])
        w.zone.add("_smtp._tls." + d, "TXT",
                   [b"v=TLSRPTv1; rua=mailto:caf\xe9@" + d.encode()])
        rc, r, err = check(w, d)
        self.assertEqual(rc, 1)
        self.assertEqual(r["dns_record"]["raw"], ["v=STSv1; id=caf\\xe9"])
        self.assertIn("txt_invalid", codes(r))
        self.assertEqual(r["summary"]["errors"], len(
            [f for f in r["issues"] if f["severity"] == "error"]))

    def check_anchored(self, domain, anchor_text):
        """mtasts check of domain with a DNSSEC trust anchor."""
        w = self.world
        anchor = os.path.join(w.dir, domain + ".anchor")
        with open(anchor, "w") as f:
            f.write(anchor_text)
        conf = os.path.join(w.dir, domain + ".conf")
        with open(w.config) as src, open(conf, "w") as f:
            f.write(src.read() + f"trust_anchor = {anchor}\n")
        p = subprocess.run([MTASTS, "check", "--config", conf, "--json",
                            domain], capture_output=True, timeout=120)
        return p.returncode, json.loads(p.stdout)

    def test_dnssec_bogus(self):
        # a trust anchor for bogus.example, whose answers are unsigned
        w, d = self.world, "sig.bogus.example"
        build(w, d, {})
        rc, r = self.check_anchored(
            d, "bogus.example. IN DS 12345 13 2 " + "ab" * 32 + "\n")
        self.assertIn("dnssec_bogus", codes(r))
        self.assertNotIn("txt_missing", codes(r))
        self.assertEqual(r["dns_record"]["dnssec"], "bogus")
        self.assertEqual(rc, 1)

    def test_dnssec_secure(self):
        # a zone signed at test time, its key as the trust anchor
        w, d = self.world, "secure.example"
        build(w, d, {})
        w.zone.add(f"_25._tcp.mx.{d}", "TXT", "no TLSA here")  # NODATA
        w.zone.signer = Signer(d)
        rc, r = self.check_anchored(d, w.zone.signer.anchor())
        self.assertEqual(r["dns_record"]["dnssec"], "secure", r)
        self.assertEqual(codes(r), {"dnssec_secure"})
        self.assertEqual(rc, 0)

    def test_init_output_passes_check(self):
        w, d = self.world, "fresh.example"
        w.add(d, txt=None, site=None,
              mx=[(10, "mx1.mail.fresh.example", GOOD),
                  (20, "mx2.mail.fresh.example", GOOD)])
        p = subprocess.run([MTASTS, "init", "--config", w.config, "--json",
                            "--mode", "enforce", d], capture_output=True,
                           text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        init = json.loads(p.stdout)
        self.assertIn("mx: *.mail.fresh.example\r\n", init["policy"])
        self.assertIn("max_age: 1209600\r\n", init["policy"])
        # publish what init said
        w.zone.add(init["mta_sts_txt"]["name"], "TXT",
                   init["mta_sts_txt"]["value"])
        w.zone.add(init["tls_rpt_txt"]["name"], "TXT",
                   init["tls_rpt_txt"]["value"])
        w.zone.add("mta-sts." + d, "A", "127.0.0.1")
        w.add_site(d, init["policy"])
        rc, r, err = check(w, d)
        self.assertEqual(r["issues"], [], err)
        self.assertEqual(rc, 0)

    def test_init_defaults_and_arguments(self):
        w, d = self.world, "starter.example"
        w.add(d, txt=None, site=None, mx=[(10, "mx.starter.example", GOOD)])

        def init(*args):
            return subprocess.run([MTASTS, "init", "--config", w.config,
                                   *args], capture_output=True, text=True)
        p = init("--json", "--rua", "https://reports.example/tls", d)
        self.assertEqual(p.returncode, 0, p.stderr)
        out = json.loads(p.stdout)
        self.assertEqual(out["policy"], "version: STSv1\r\nmode: testing"
                         "\r\nmx: mx.starter.example\r\nmax_age: 86400"
                         "\r\n")
        self.assertEqual(out["tls_rpt_txt"]["value"],
                         "v=TLSRPTv1; rua=https://reports.example/tls")
        self.assertRegex(out["mta_sts_txt"]["value"],
                         r"^v=STSv1; id=[0-9]{14}$")
        # the text form, for a person
        p = init(d)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("mode: testing", p.stdout)
        self.assertIn("_mta-sts.starter.example", p.stdout)
        for bad in (["--max-age", "1w"], ["--max-age", "-1"],
                    ["--max-age", "99999999999"], ["--mode", "strict"],
                    ["--rua", "mailto:a@b; rua=mailto:evil@x"]):
            with self.subTest(args=bad):
                self.assertEqual(init(*bad, d).returncode, 2)
        # RFC 7505: a domain that receives no mail has nothing to publish
        w.add("nullmx.example", txt=None, site=None, mx=[(0, "", GOOD)])
        p = init("nullmx.example")
        self.assertEqual(p.returncode, 1)
        self.assertIn("null MX", p.stderr)


if __name__ == "__main__":
    unittest.main()
