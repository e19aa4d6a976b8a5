"""discover.c on its own, through discover_run, against the loopback
world (DNS and HTTPS servers, test CA): RFC 8461 §3 TXT then HTTPS for
many domains at once; §5.1 a TXT id equal to the known policy's renews
it without a fetch, a new id fetches; §5 a failure leaves a known
unexpired policy in force.  The cache around it: test_lookup.py."""
import os
import subprocess
import tempfile
import unittest

from runner import parse
from world import World, with_settings

RUN = os.environ["DISCOVER_RUN"]
NOW = 1_900_000_000
ID = "20261122"  # the id the world's TXT records carry

SCENARIOS = {
    "crlf.example": dict(),
    "other.example": dict(),
    "cname.example": dict(txt="cname"),
    "nosts.example": dict(txt=["v=spf1 -all"]),
    "nxdomain.example": dict(txt=None, site=None),
    "notxt.example": dict(txt=[]),
    "servfail.example": dict(dns="servfail"),
    "twotxt.example": dict(txt=["v=STSv1; id=one", "v=STSv1; id=two"]),
    "nohost.example": dict(ip=None),
    "500.example": dict(site=dict(status=500, body="oops")),
    "hang.example": dict(site=dict(how="hang")),
}


class Discover(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.world = World(scenarios=SCENARIOS)

    @classmethod
    def tearDownClass(cls):
        cls.world.stop()

    def discover(self, *domains, config=None):
        """[result] in the order of domains, and the progress lines."""
        p = subprocess.run([RUN, config or self.world.config, str(NOW),
                            *domains], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        progress = [x for x in lines if x.startswith("progress=")]
        return [parse(x) for x in lines if x.startswith("domain=")], progress

    def queries(self, name):
        return sum(1 for q, _ in self.world.zone.queries if q == name)

    def test_txt_then_https(self):
        before = self.world.fetches("crlf.example")
        [r], _ = self.discover("crlf.example")
        self.assertEqual(
            (r["status"], r["code"], r["undecided"], r["seen_id"]),
            ("found", "ok", "0", ID))
        self.assertEqual((r["id"], r["mode"], r["mx"], r["max_age"]),
                         (ID, "enforce", "mx1.crlf.example,mx2.crlf.example",
                          "86400"))
        # in force for max_age from the time discover_run was given
        self.assertEqual(int(r["expires"]), NOW + 86400)
        self.assertEqual(self.world.fetches("crlf.example"), before + 1)

    def test_txt_behind_a_cname(self):
        [r], _ = self.discover("cname.example")
        self.assertEqual((r["status"], r["mode"]), ("found", "enforce"))

    def test_same_id_renews_without_a_fetch(self):
        """§5.1: the known policy is kept, not the world's, and nothing
        is asked of the policy host, not even its address."""
        fetches = self.world.fetches("other.example")
        lookups = self.queries("mta-sts.other.example")
        [r], _ = self.discover(f"other.example={ID}@{NOW + 100}")
        self.assertEqual((r["status"], r["code"], r["seen_id"]),
                         ("renewed", "ok", ID))
        self.assertEqual((r["id"], r["mode"], r["mx"]),
                         (ID, "testing", "known.example"))
        # its max_age (600) counted again from now
        self.assertEqual(int(r["expires"]), NOW + 600)
        self.assertEqual(self.world.fetches("other.example"), fetches)
        self.assertEqual(self.queries("mta-sts.other.example"), lookups)

    def test_new_id_fetches(self):
        before = self.world.fetches("other.example")
        [r], _ = self.discover(f"other.example=older@{NOW + 100}")
        self.assertEqual((r["status"], r["id"], r["mode"], r["mx"]),
                         ("found", ID, "enforce",
                          "mx1.other.example,mx2.other.example"))
        self.assertEqual(self.world.fetches("other.example"), before + 1)

    def test_no_policy_and_no_answer(self):
        """Only the TXT step may say "no policy" (not_found); a TXT query
        nobody answered is no answer at all (undecided)."""
        want = {
            "nosts.example": ("not_found", "no_sts_record", "0"),
            "nxdomain.example": ("not_found", "dns_nxdomain", "0"),
            "notxt.example": ("not_found", "dns_nodata", "0"),
            "servfail.example": ("errored", "dns_error", "1"),
            "twotxt.example": ("errored", "multi_sts_records", "0"),
            # the TXT record is there: its policy host's NXDOMAIN is an
            # error, not "no policy"
            "nohost.example": ("errored", "dns_nxdomain", "0"),
            "500.example": ("errored", "http_status_500", "0"),
            "not..a.domain": ("errored", "usage", "1"),
        }
        results, _ = self.discover(*want)
        for domain, r in zip(want, results):
            with self.subTest(domain=domain):
                self.assertEqual((r["status"], r["code"], r["undecided"]),
                                 want[domain])
                self.assertNotIn("mode", r)

    def test_failure_keeps_a_known_policy_in_force(self):
        """§5: an attacker who strips the TXT record or breaks the fetch
        must not downgrade the sender, until the policy expires."""
        failing = ("nxdomain.example", "servfail.example",
                   "twotxt.example", "500.example")
        unexpired, _ = self.discover(
            *(f"{d}=older@{NOW + 100}" for d in failing))
        expired, _ = self.discover(*(f"{d}=older@{NOW}" for d in failing))
        for domain, r, gone in zip(failing, unexpired, expired):
            with self.subTest(domain=domain):
                self.assertEqual((r["status"], r["mode"], r["mx"]),
                                 ("cached", "testing", "known.example"))
                self.assertNotEqual(r["code"], "ok")  # the reason, told
                # its expiry is not moved on by a failure
                self.assertEqual(int(r["expires"]), NOW + 100)
                self.assertIn(gone["status"], ("not_found", "errored"))
                self.assertNotIn("mode", gone)

    def test_many_domains_a_few_at_a_time(self):
        """concurrency 2: every result filled, in the order asked, each
        end told to the progress callback; a hanging host holds up one
        slot, not the run."""
        with open(self.world.config) as f:
            text = with_settings(f.read(), "concurrency = 2")
        with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
            f.write(text)
            f.flush()
            domains = ("hang.example", "crlf.example", "nosts.example",
                       "other.example", "cname.example", "500.example")
            results, progress = self.discover(*domains, config=f.name)
        self.assertEqual([r["domain"] for r in results], list(domains))
        self.assertEqual([r["status"] for r in results],
                         ["errored", "found", "not_found", "found",
                          "found", "errored"])
        self.assertEqual(results[0]["code"], "timeout")
        self.assertEqual(progress, [f"progress={i}/6" for i in range(1, 7)])


if __name__ == "__main__":
    unittest.main()
