"""End to end with a real Exim (Debian's exim4-daemon-heavy 4.96) loading
mtasts_exim.so through exim/exim.conf as shipped, in private network and
mount namespaces: the test world's DNS on port 53, policy hosts on 443,
and STARTTLS SMTP sinks on port 25 of loopback addresses.

For each case: what each sink received and whether over TLS, whether the
message was delivered or deferred, and Exim's log lines."""
import contextlib
import os
import re
import subprocess
import unittest

import exim
import netns

if exim.available():
    netns.enter()

from exim import Exim, debian_config, minimal_config
from mail_world import (ATTACKER, GOOD, PLAIN, ROGUE, WRONG,
                        MailWorld)
from world import policy, with_settings

SO = os.environ.get("MTASTS_EXIM_SO")
EXIM_CONF = os.environ.get("MTASTS_EXIM_CONF")

# domain -> (mode or None for no policy, sink of mx.<domain>, extra MX...)
DOMAINS = {
    "enforce-good.example": ("enforce", GOOD),
    "enforce-wrongcert.example": ("enforce", WRONG),
    "enforce-plain.example": ("enforce", PLAIN),
    "enforce-rogue.example": ("enforce", GOOD, ATTACKER),
    "enforce-onlyrogue.example": ("enforce", None, ATTACKER),
    # its policy says "mx: *.enforce-wild.example" (setUpClass); DNS
    # prefers a host two labels down, at the rogue sink
    "enforce-wild.example": ("enforce", GOOD,
                             (5, "a.mx.enforce-wild.example", ROGUE)),
    "testing-good.example": ("testing", GOOD),
    "testing-wrongcert.example": ("testing", WRONG),
    "testing-plain.example": ("testing", PLAIN),
    "testing-hostdown.example": ("testing", PLAIN),
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
    # bücher.example and café.example, as DNS has them
    "xn--bcher-kva.example": ("enforce", PLAIN),
    "xn--caf-dma.example": ("enforce", GOOD),
    # a partner without a policy, under a static policy of the operator's
    "partner.example": (None, PLAIN),
    # one domain per fault of this host, never looked up before it
    "fault-module.example": ("enforce", PLAIN),
    "fault-function.example": ("enforce", GOOD, ATTACKER),
    "fault-nopolicy.example": (None, PLAIN),
    "fault-ca.example": ("enforce", PLAIN),
    "fault-resolver.example": ("enforce", PLAIN),
    "fault-curl.example": ("enforce", PLAIN),
    "fault-config.example": ("enforce", None, ATTACKER),
    "fault-disk.example": ("enforce", GOOD),
    "lost.example": ("enforce", PLAIN),
    "fault-diskplain.example": ("enforce", PLAIN),
}
OVERRIDES = """
[domain forced.example]
mode = enforce

[domain skipped.example]
skip = yes

[domain partner.example]
mode = enforce
mx = mx.partner.example
"""


@unittest.skipUnless(exim.available() and SO,
                     "needs root, the unpacked Exim of tools/deps and "
                     "mtasts_exim.so")
class MinimalConfig(unittest.TestCase):
    """exim.conf, the complete configuration, with every case."""

    @classmethod
    def make_config(cls, w):
        return minimal_config(EXIM_CONF, SO, w.config, w.ca.cert_file)

    # the production default (900) in a class of its own below
    TXT_RECHECK = "txt_recheck = 0\n"

    @classmethod
    def setUpClass(cls):
        cls.mail = MailWorld(DOMAINS, extra_config=cls.TXT_RECHECK +
                             "cache_group = mtasts\n" + OVERRIDES)
        cls.world = cls.mail.world
        cls.world.add_site("enforce-wild.example", policy(
            "enforce", mx=("*.enforce-wild.example",)))
        # the cache shared as the README says: a group mtasts with
        # Debian-exim a supplementary member, which Exim's transports
        # (run as Debian-exim, without supplementary groups) are not
        netns.add_group(cls.world.dir, "mtasts", ["Debian-exim"])
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

    def assert_sinks(self, domain, expected):
        """What every sink got for domain: expected maps a sink to the
        [tls] of its messages; every other sink got nothing."""
        for address in self.sinks:
            self.assertEqual(self.got(address, domain),
                             expected.get(address, []), address)

    def assert_nothing_anywhere(self, domain):
        self.assert_sinks(domain, {})

    @contextlib.contextmanager
    def faulty(self, replace=None, mtasts_extra=None, mtasts_sections=""):
        """Exim configured as shipped, but with the strings of replace
        replaced (a fault of this host), or with mtasts_extra in the
        mtasts configuration, in place of what it names, and
        mtasts_sections at its end; as before afterwards."""
        text = self.exim.config_text
        conf = None
        try:
            # the shipped file inlined, so that its lines can be changed
            new = "".join(open(line[9:]).read() if line.startswith(
                ".include ") else line + "\n" for line in text.splitlines())
            for old, bad in (replace or {}).items():
                self.assertIn(old, new)
                new = new.replace(old, bad)
            if mtasts_extra is not None or mtasts_sections:
                mtasts_extra = mtasts_extra or ""
                conf = self.world.config + ".fault"
                with open(self.world.config) as src:
                    text_conf = src.read()
                with open(conf, "w") as f:
                    f.write(with_settings(text_conf, mtasts_extra) +
                            mtasts_sections)
                os.chmod(conf, 0o644)
                new = new.replace(self.world.config, conf)
            self.exim.configure(new)
            yield
        finally:
            self.exim.configure(text)
            if conf is not None:
                os.unlink(conf)

    # --- enforce -------------------------------------------------------

    def test_enforce_good_mx(self):
        d = "enforce-good.example"
        msgid, log = self.send(d)
        self.assert_delivered(msgid, log)
        self.assert_sinks(d, {GOOD: [True]})
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
        self.assert_sinks(d, {GOOD: [True]})
        self.assertIn(f"H=mx.{d} ", log)

    def test_enforce_wildcard_is_one_label(self):
        """RFC 8461 §4.1: "*.enforce-wild.example" allows
        mx.enforce-wild.example, not a.mx.enforce-wild.example, which DNS
        prefers: that host is never tried.  (A too-wide regex from
        mx_pattern_regex alone does not fail this: the module's other
        check of each host keeps it out too; the regex itself is held
        to mtasts_mx_match by tests/unit/test_mx.c.)"""
        d = "enforce-wild.example"
        msgid, log = self.send(d)
        self.assert_delivered(msgid, log)
        self.assert_sinks(d, {GOOD: [True]})
        self.assertIn(f"H=mx.{d} ", log)
        self.assertNotIn(f"a.mx.{d}", log)

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
        self.assert_sinks(d, {GOOD: [True]})
        self.assertNotIn("enforce would refuse", log)

    def assert_reported(self, d, sink, tls, mx, violation):
        """Delivered to sink (over TLS or not), and the violation logged."""
        msgid, log = self.send(d)
        self.assert_delivered(msgid, log)
        self.assert_sinks(d, {sink: [tls]})
        self.assertIn(f"MTA-STS testing: {d}: MX {mx}: enforce would "
                      f"refuse: {violation}", log)

    def test_testing_wrong_certificate_logged(self):
        d = "testing-wrongcert.example"
        self.assert_reported(d, WRONG, True, f"mx.{d}",
                             "certificate not valid for the MX host")

    def test_testing_no_starttls_logged(self):
        d = "testing-plain.example"
        self.assert_reported(d, PLAIN, False, f"mx.{d}", "no STARTTLS")

    def test_testing_reported_from_the_cached_policy(self):
        # the report is made in the transport, which runs as Debian-exim
        # without its supplementary groups (the cache's group among them):
        # it must report from the policy the router found, not discover
        # again (here the policy host fails after the first delivery)
        d = "testing-hostdown.example"
        self.assert_reported(d, PLAIN, False, f"mx.{d}", "no STARTTLS")
        self.world.zone.remove("_mta-sts." + d, "TXT")
        self.world.zone.add("_mta-sts." + d, "TXT", "v=STSv1; id=new")
        self.world.https.sites["mta-sts." + d].status = 500
        msgid, log = self.send(d)
        self.assert_delivered(msgid, log)
        self.assertEqual(self.got(PLAIN, d), [False, False])
        self.assertIn(f"MTA-STS testing: {d}: MX mx.{d}: enforce would "
                      "refuse: no STARTTLS", log)

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
            self.assert_sinks(d, {ROGUE: [True]})

    # --- as without the module -------------------------------------------

    def test_no_policy(self):
        d = "nopolicy.example"
        msgid, log = self.send(d)
        self.assert_delivered(msgid, log)
        self.assert_sinks(d, {PLAIN: [False]})
        self.assertIn("R=dnslookup T=remote_smtp", log)
        self.assertNotIn("MTA-STS", log)

    def test_mode_none(self):
        d = "none.example"
        msgid, log = self.send(d)
        self.assert_delivered(msgid, log)
        self.assert_sinks(d, {PLAIN: [False]})
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
        self.assert_sinks(d, {PLAIN: [False]})
        self.assertIn("R=dnslookup", log)


    # --- faults of this host: never in the clear, never off-policy -------

    def assert_deferred_nowhere(self, domain, rcpt=None):
        msgid = self.exim.send(rcpt or "bob@" + domain)
        log = self.exim.mainlog(msgid)
        self.assert_deferred(msgid, log)
        self.assert_nothing_anywhere(domain)
        return log

    def test_fault_module_cannot_be_loaded(self):
        # a wrong MTASTS_SO, a half-finished upgrade: every router's
        # condition fails to expand, the guard's data defers - a domain
        # without a policy too, for nothing can tell it from one with
        with self.faulty({SO: "/nonexistent/mtasts_exim.so"}):
            for d in ("fault-module.example", "fault-nopolicy.example"):
                log = self.assert_deferred_nowhere(d)
                self.assertIn("R=mtasts_guard defer", log)
        self.assertIn("/nonexistent/mtasts_exim.so", self.exim.paniclog())

    def test_fault_module_function_missing(self):
        # an older module without the function that builds the host list:
        # ignore_target_hosts would keep every host (the attacker's MX
        # comes first); address_data defers instead
        with self.faulty({"{mtasts_ignore}": "{mtasts_no_such_function}"}):
            log = self.assert_deferred_nowhere("fault-function.example")
        self.assertIn("R=mtasts_enforce defer", log)

    def test_fault_configuration_missing(self):
        # the default path, which an operator never had to name: the
        # static policy that protects partner.example lives in it
        with open(os.path.join(os.path.dirname(EXIM_CONF),
                               "02_mtasts_macros")) as f:
            default = re.search(r"MTASTS_CONFIG = (\S+)", f.read()).group(1)
        if os.path.exists(default):
            self.skipTest(f"{default} exists on this host")
        with self.faulty({self.world.config: default}):
            self.assert_deferred_nowhere("partner.example")
        self.assertIn(f"every domain defers: {default}",
                      self.exim.paniclog())

    def test_fault_configuration_emptied(self):
        # an operator's accident: the file emptied (a crash mid-write, a
        # failed configuration run), left with comments only, or cut
        # inside a line.  It read as the defaults without an override:
        # partner.example, protected by a static policy only, went out in
        # cleartext through dnslookup.  Now it is refused as a missing
        # file is: every domain defers
        accidents = {"": "no [mtasts] section",
                     "; mtasts.conf\n\n# [domain partner.example]\n":
                         "no [mtasts] section",
                     "[mtasts]\ntxt_recheck = 0\n[domain partner.example]\n"
                     "mode = enforce\nmx = mx.part": ":5: the file ends"}
        for n, (text, says) in enumerate(accidents.items()):
            conf = os.path.join(self.world.dir, f"mtasts.conf.accident{n}")
            with open(conf, "w") as f:
                f.write(text)
            os.chmod(conf, 0o644)
            with self.faulty({self.world.config: conf}):
                log = self.assert_deferred_nowhere("partner.example")
                self.assertNotIn("R=dnslookup", log)
            self.assertIn(f"every domain defers: {conf}", self.exim.paniclog())
            self.assertIn(says, self.exim.paniclog())

    def test_fault_configuration_refused(self):
        # an operator's override with an indented line, which libinih
        # read as one more MX pattern (the attacker's host, the domain's
        # only MX): mail went to it over verified TLS.  Now the file is
        # refused at that line, and every domain defers
        with self.faulty(mtasts_sections=(
                "[domain fault-config.example]\nmode = enforce\n"
                "mx = mx.fault-config.example\n    mx.attacker.example\n")):
            log = self.assert_deferred_nowhere("fault-config.example")
        self.assertIn("R=mtasts_defer", log)
        self.assertRegex(self.exim.paniclog(), r"every domain defers: "
                         r"\S+mtasts\.conf\.fault:\d+: not a")

    def test_static_policy_enforced(self):
        log = self.assert_deferred_nowhere("partner.example")
        self.assertIn("MTA-STS partner.example: enforce, policy override",
                      log)

    def test_fault_ca_bundle_unreadable(self):
        with self.faulty(mtasts_extra="ca_bundle = /nonexistent/ca.pem\n"):
            log = self.assert_deferred_nowhere("fault-ca.example")
        self.assertIn("tls_setup_error", log)

    @contextlib.contextmanager
    def full_cache_file_system(self):
        """The cache's directory a full tmpfs, for Exim's processes too
        (this test's mount namespace); the cache as it was afterwards."""
        d = self.world.cache_dir
        made = not os.path.exists(d)
        os.makedirs(d, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755",
                        "none", d], check=True)
        try:
            subprocess.run(["dd", "if=/dev/zero", f"of={d}/fill", "bs=4k"],
                           capture_output=True, check=False)
            yield
        finally:
            subprocess.run(["umount", d], check=True)
            if made:  # for the cache to make as it makes it
                os.rmdir(d)

    def test_fault_full_disk(self):
        # the cache on a full file system when a new enforce policy must
        # be stored: LMDB's lock table took a SIGBUS ("crashed with
        # signal 7").  Now: decided from the network, not stored
        with self.full_cache_file_system():
            msgid, log = self.send("fault-disk.example")
            plain = self.assert_deferred_nowhere("fault-diskplain.example")
        self.assert_delivered(msgid, log)
        self.assertIn("R=mtasts_enforce T=mtasts_enforce_smtp", log)
        self.assert_sinks("fault-disk.example", {GOOD: [True]})
        self.assertIn("did not offer TLS", plain)
        for text in (log, plain, self.exim.paniclog()):
            self.assertNotIn("signal", text)

    @contextlib.contextmanager
    def libcurl_unloadable(self):
        """libcurl.so.4 an empty file (a broken upgrade), in this test's
        mount namespace, for Exim's processes too."""
        lib = next(os.path.join(d, "libcurl.so.4") for d in (
            "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
            "/usr/lib") if os.path.exists(os.path.join(d, "libcurl.so.4")))
        subprocess.run(["mount", "--bind", "/dev/null", lib], check=True)
        try:
            yield
        finally:
            subprocess.run(["umount", lib], check=True)

    def test_fault_libcurl_cannot_be_loaded(self):
        # libcurl is loaded at a policy's first fetch (curl_load.c): a
        # cached policy is enforced without it, an uncached domain defers
        cached = "enforce-good.example"
        self.exim.send("bob@" + cached)
        with self.libcurl_unloadable():
            log = self.assert_deferred_nowhere("fault-curl.example")
            msgid = self.exim.send("bob@" + cached)
            cached_log = self.exim.mainlog(msgid)
        self.assertIn("libcurl cannot be loaded", log)
        self.assert_delivered(msgid, cached_log)
        self.assertIn("R=mtasts_enforce T=mtasts_enforce_smtp", cached_log)
        self.assertTrue(all(self.got(GOOD, cached)))

    def test_fault_resolver_dead(self):
        # Exim's own DNS works; the resolver mtasts is told to use is dead
        with self.faulty(mtasts_extra="resolver = 127.0.0.1@9\n"
                         "dns_timeout = 1\n"):
            self.assert_deferred_nowhere("fault-resolver.example")

    def test_unicode_domain_under_enforce(self):
        # bücher.example publishes enforce (as xn--bcher-kva.example) and
        # its MX has no STARTTLS
        self.assert_deferred_nowhere("xn--bcher-kva.example",
                                     "bob@b\u00fccher.example")

    def test_unicode_domain_good_mx(self):
        d = "xn--caf-dma.example"
        msgid = self.exim.send("bob@caf\u00e9.example")
        log = self.exim.mainlog(msgid)
        self.assert_delivered(msgid, log)
        self.assertIn("R=mtasts_enforce T=mtasts_enforce_smtp", log)
        self.assertEqual(self.got(GOOD, d) + self.got(GOOD, "caf\u00e9.example"),
                         [True])

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
        self.assert_sinks(d, {GOOD: [True, True]})
        if self.TXT_RECHECK == "txt_recheck = 0\n":
            self.assertIn(f"MTA-STS {d}: enforce, policy 20261122 "
                          "(network; refresh failed: http_status_500)", log)

    def test_txt_record_gone_cached_policy_holds(self):
        d = "txtgone.example"
        self.assert_delivered(*self.send(d))
        self.world.zone.remove("_mta-sts." + d, "TXT")
        self.add_rogue_mx(d)
        msgid, log = self.send(d)
        self.assert_delivered(msgid, log)
        self.assert_sinks(d, {GOOD: [True, True]})

    def test_zz_lost_cache_fails_closed(self):
        # an enforce policy cached (the first message defers at the
        # domain's plain MX), the policy host then answers 404 and
        # data.mdb is truncated: the next process set the cache up as new,
        # the verdict was none, and the message went out in cleartext.
        # The witness outlives data.mdb: the domain waits
        d = "lost.example"
        self.assert_deferred_nowhere(d)
        self.world.https.sites["mta-sts." + d].status = 404
        os.truncate(os.path.join(self.world.cache_dir, "data.mdb"), 0)
        self.exim.forget_retries()  # not held back by Exim's hints
        log = self.assert_deferred_nowhere(d)
        self.assertIn(f"the cache lost the enforce policy it held for {d}",
                      log)
        # the operator accepts the loss: the domain has no policy now
        subprocess.run([os.environ["MTASTS"], "cache",
                        "forget", d, "--config", self.world.config],
                       check=True, capture_output=True)
        self.exim.forget_retries()
        msgid, log = self.send(d)
        self.assert_delivered(msgid, log)
        self.assertIn("R=dnslookup", log)
        self.assertEqual(self.got(PLAIN, d), [False])

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
        self.assert_sinks(d, {GOOD: [True, True]})
        self.assertIn("the policy cache failed", log)
        self.assertNotIn(msgid, self.exim.paniclog())


class DebianSplitConfig(MinimalConfig):
    """Debian's conf.d with the snippets dropped in: the cases that go
    through each router and transport of the snippets."""

    @classmethod
    def make_config(cls, w):
        return debian_config(SO, w.config, w.ca.cert_file,
                             os.path.dirname(EXIM_CONF))


class ProductionRecheck(MinimalConfig):
    """exim.conf with txt_recheck at its default (900 s): cached answers
    serve without a DNS query, as in production."""
    TXT_RECHECK = ""


if __name__ == "__main__":
    unittest.main()
