"""End to end with a real Exim (Debian's exim4-daemon-heavy 4.96) loading
mtasts_exim.so through exim/exim.conf as shipped, in private network and
mount namespaces: the test world's DNS on port 53, policy hosts on 443,
and STARTTLS SMTP sinks on port 25 of loopback addresses.

For each case: what each sink received and whether over TLS, whether the
message was delivered or deferred, and Exim's log lines."""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "world"))
import netns  # noqa: E402

if os.geteuid() == 0 and os.path.exists("/usr/sbin/exim4"):
    netns.enter()

from exim import Exim, debian_config, minimal_config  # noqa: E402
from mail_world import (ATTACKER, GOOD, PLAIN, ROGUE, WRONG,  # noqa: E402
                        MailWorld)

SO = os.environ.get("MTASTS_EXIM_SO")
EXIM_CONF = os.environ.get("MTASTS_EXIM_CONF")

# domain -> (mode or None for no policy, sink of mx.<domain>, extra MX...)
DOMAINS = {
    "enforce-good.example": ("enforce", GOOD),
    "enforce-wrongcert.example": ("enforce", WRONG),
    "enforce-plain.example": ("enforce", PLAIN),
    "enforce-rogue.example": ("enforce", GOOD, ATTACKER),
    "enforce-onlyrogue.example": ("enforce", None, ATTACKER),
    "testing-good.example": ("testing", GOOD),
    "testing-wrongcert.example": ("testing", WRONG),
    "testing-plain.example": ("testing", PLAIN),
    "testing-rogue.example": ("testing", None, ATTACKER),
    "testing-share1.example": ("testing", None, ATTACKER),
    "testing-share2.example": ("testing", None, ATTACKER),
    "nopolicy.example": (None, PLAIN),
    "none.example": ("none", PLAIN),
    "forced.example": ("testing", PLAIN),
    "skipped.example": ("enforce", PLAIN),
    "hostdown.example": ("enforce", GOOD),
    "txtgone.example": ("enforce", GOOD),
    "unreadable.example": ("enforce", GOOD),
}
OVERRIDES = """
[domain forced.example]
mode = enforce

[domain skipped.example]
skip = yes
"""


@unittest.skipUnless(os.geteuid() == 0 and os.path.exists("/usr/sbin/exim4")
                     and SO, "needs root, Debian's exim4 and mtasts_exim.so")
class MinimalConfig(unittest.TestCase):
    """exim.conf, the complete configuration, with every case."""

    @classmethod
    def make_config(cls, w):
        return minimal_config(EXIM_CONF, SO, w.config, w.ca.cert_file)

    @classmethod
    def setUpClass(cls):
        cls.mail = MailWorld(DOMAINS, extra_config="txt_recheck = 0\n"
                             "cache_group = Debian-exim\n" + OVERRIDES)
        cls.world = cls.mail.world
        cls.sinks = cls.mail.sinks
        cls.exim = Exim(os.path.join(cls.world.dir, "exim"),
                        cls.make_config(cls.world))

    @classmethod
    def tearDownClass(cls):
        cls.mail.stop()

    def send(self, domain):
        msgid = self.exim.send("bob@" + domain)
        self.assertIsNotNone(msgid)
        return msgid, self.exim.mainlog(msgid)

    def got(self, sink, domain):
        return self.mail.got(sink, domain)

    def assert_delivered(self, msgid, log):
        self.assertIn(" => bob@", log)
        self.assertIn(" Completed", log)
        self.assertNotIn(msgid, self.exim.queue())

    def assert_deferred(self, msgid, log):
        self.assertIn(" == bob@", log)
        self.assertNotIn(" => ", log)
        self.assertIn(msgid, self.exim.queue())

    def assert_nothing_anywhere(self, domain):
        for address in self.sinks:
            self.assertEqual(self.got(address, domain), [], address)

    # --- enforce -------------------------------------------------------

    def test_enforce_good_mx(self):
        d = "enforce-good.example"
        msgid, log = self.send(d)
        self.assert_delivered(msgid, log)
        self.assertEqual(self.got(GOOD, d), [True])
        self.assertIn("R=mtasts_enforce T=mtasts_enforce_smtp", log)
        self.assertIn("CV=yes", log)
        self.assertIn(f"MTA-STS {d}: enforce, policy 20261122", log)

    def test_enforce_wrong_certificate(self):
        d = "enforce-wrongcert.example"
        msgid, log = self.send(d)
        self.assert_deferred(msgid, log)
        self.assert_nothing_anywhere(d)
        self.assertRegex(log, r"certificate|TLS")

    def test_enforce_no_starttls(self):
        d = "enforce-plain.example"
        msgid, log = self.send(d)
        self.assert_deferred(msgid, log)
        self.assert_nothing_anywhere(d)
        self.assertIn("did not offer TLS", log)

    def test_enforce_rogue_mx_dropped(self):
        d = "enforce-rogue.example"
        msgid, log = self.send(d)
        self.assert_delivered(msgid, log)
        self.assertEqual(self.got(ROGUE, d), [])
        self.assertEqual(self.got(GOOD, d), [True])
        self.assertIn(f"H=mx.{d} ", log)

    def test_enforce_only_rogue_mx_defers(self):
        d = "enforce-onlyrogue.example"
        msgid, log = self.send(d)
        self.assert_deferred(msgid, log)
        self.assert_nothing_anywhere(d)
        self.assertIn("R=mtasts_defer", log)
        self.assertIn(f"MTA-STS: no MX host of {d} qualifies", log)

    # --- testing -------------------------------------------------------

    def test_testing_good_mx(self):
        d = "testing-good.example"
        msgid, log = self.send(d)
        self.assert_delivered(msgid, log)
        self.assertEqual(self.got(GOOD, d), [True])
        self.assertNotIn("enforce would refuse", log)

    def assert_reported(self, d, sink, tls, mx, violation):
        """Delivered to sink (over TLS or not), and the violation logged."""
        msgid, log = self.send(d)
        self.assert_delivered(msgid, log)
        self.assertEqual(self.got(sink, d), [tls])
        self.assertIn(f"MTA-STS testing: {d}: MX {mx}: enforce would "
                      f"refuse: {violation}", log)

    def test_testing_wrong_certificate_logged(self):
        d = "testing-wrongcert.example"
        self.assert_reported(d, WRONG, True, f"mx.{d}",
                             "certificate not valid for the MX host")

    def test_testing_no_starttls_logged(self):
        d = "testing-plain.example"
        self.assert_reported(d, PLAIN, False, f"mx.{d}", "no STARTTLS")

    def test_testing_mx_not_in_policy_logged(self):
        self.assert_reported("testing-rogue.example", ROGUE, True,
                             "mx.attacker.example",
                             "MX mx.attacker.example is not in the policy")

    def test_testing_one_message_two_domains_both_logged(self):
        # one message, two testing domains on one MX: two deliveries, each
        # knows its domain, each violation is logged
        ds = ("testing-share1.example", "testing-share2.example")
        msgid = self.exim.send([f"bob@{d}" for d in ds])
        log = self.exim.mainlog(msgid)
        for d in ds:
            self.assertIn(f"MTA-STS testing: {d}: MX mx.attacker.example: "
                          "enforce would refuse", log)
            self.assertEqual(self.got(ROGUE, d), [True])

    # --- as without the module -------------------------------------------

    def test_no_policy(self):
        d = "nopolicy.example"
        msgid, log = self.send(d)
        self.assert_delivered(msgid, log)
        self.assertEqual(self.got(PLAIN, d), [False])
        self.assertIn("R=dnslookup T=remote_smtp", log)
        self.assertNotIn("MTA-STS", log)

    def test_mode_none(self):
        d = "none.example"
        msgid, log = self.send(d)
        self.assert_delivered(msgid, log)
        self.assertEqual(self.got(PLAIN, d), [False])
        self.assertIn("R=dnslookup", log)

    def test_override_forces_enforce(self):
        d = "forced.example"
        msgid, log = self.send(d)
        self.assert_deferred(msgid, log)
        self.assert_nothing_anywhere(d)
        self.assertIn(f"MTA-STS {d}: enforce", log)

    def test_skip_override(self):
        d = "skipped.example"
        msgid, log = self.send(d)
        self.assert_delivered(msgid, log)
        self.assertEqual(self.got(PLAIN, d), [False])
        self.assertIn("R=dnslookup", log)

    # --- the cache holds ---------------------------------------------------

    def add_rogue_mx(self, domain):
        self.world.zone.add(domain, "MX", (5, "mx.attacker.example"))

    def test_policy_host_down_cached_policy_holds(self):
        d = "hostdown.example"
        self.assert_delivered(*self.send(d))
        # a new id, the policy host answers 500, a rogue MX appears
        self.world.zone.remove("_mta-sts." + d, "TXT")
        self.world.zone.add("_mta-sts." + d, "TXT", "v=STSv1; id=new")
        self.world.https.sites["mta-sts." + d].status = 500
        self.add_rogue_mx(d)
        msgid, log = self.send(d)
        self.assert_delivered(msgid, log)
        self.assertEqual(self.got(ROGUE, d), [])
        self.assertEqual(self.got(GOOD, d), [True, True])
        self.assertIn(f"MTA-STS {d}: enforce, policy 20261122 (network; "
                      "refresh failed: http_status_500)", log)

    def test_txt_record_gone_cached_policy_holds(self):
        d = "txtgone.example"
        self.assert_delivered(*self.send(d))
        self.world.zone.remove("_mta-sts." + d, "TXT")
        self.add_rogue_mx(d)
        msgid, log = self.send(d)
        self.assert_delivered(msgid, log)
        self.assertEqual(self.got(ROGUE, d), [])
        self.assertEqual(self.got(GOOD, d), [True, True])

    def test_zz_unreadable_cache_fails_closed(self):
        # last: it breaks the cache every test shares
        d = "unreadable.example"
        self.assert_delivered(*self.send(d))
        with open(os.path.join(self.world.cache_dir, "data.mdb"),
                  "r+b") as f:
            f.write(os.urandom(16384))
        # the network still says enforce: delivered under enforce
        msgid, log = self.send(d)
        self.assert_delivered(msgid, log)
        self.assertIn("R=mtasts_enforce", log)
        # the TXT record vanishes too: nothing may say "no policy" now
        self.world.zone.remove("_mta-sts." + d, "TXT")
        self.add_rogue_mx(d)
        msgid, log = self.send(d)
        self.assert_deferred(msgid, log)
        self.assertEqual(self.got(ROGUE, d), [])
        self.assertEqual(self.got(GOOD, d), [True, True])
        self.assertIn("the policy cache failed", log)
        self.assertEqual(self.exim.paniclog(), "")


class DebianSplitConfig(MinimalConfig):
    """Debian's conf.d with the snippets dropped in: the cases that go
    through each router and transport of the snippets."""

    @classmethod
    def make_config(cls, w):
        return debian_config(SO, w.config, w.ca.cert_file)


# the minimal configuration covers the rest
for name in list(vars(MinimalConfig)):
    if name.startswith("test_") and name not in (
            "test_enforce_good_mx", "test_enforce_rogue_mx_dropped",
            "test_enforce_only_rogue_mx_defers", "test_enforce_no_starttls",
            "test_testing_no_starttls_logged", "test_no_policy",
            "test_txt_record_gone_cached_policy_holds"):
        setattr(DebianSplitConfig, name, None)


if __name__ == "__main__":
    unittest.main()
