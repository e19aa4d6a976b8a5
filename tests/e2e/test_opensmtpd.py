"""End to end with a real OpenSMTPD (Debian bookworm's 6.8.0p2, unpacked)
running opensmtpd/smtpd.conf as shipped with filter-mtasts, in private
network and mount namespaces, relaying to STARTTLS SMTP sinks of the
loopback world.  For each case: the SMTP replies, what each sink received
and whether over TLS, the queue, and the log lines."""
import os
import re
import signal
import subprocess
import sys
import threading
import time
import unittest

import netns
import opensmtpd

READY = os.geteuid() == 0 and opensmtpd.available()
if READY:
    netns.enter(addrconfig=True)

from mail_world import (ATTACKER, GOOD, PLAIN, PLAIN2, ROGUE,  # noqa
                        WRONG, MailWorld)
from world import policy

FILTER = os.environ.get("MTASTS_FILTER")
# the smtpd.conf the build made (its paths from meson), as installed
CONF = os.environ.get("MTASTS_SMTPD_CONF", "")
DOMAINS = {
    "enforce-good.example": ("enforce", GOOD),
    "enforce-rogue.example": ("enforce", None, ATTACKER),
    "enforce-mixed.example": ("enforce", GOOD, ATTACKER),
    "enforce-swap.example": ("enforce", GOOD),
    "enforce-down.example": ("enforce", GOOD),
    "enforce-move.example": ("enforce", GOOD),
    # its MX host's name is what enforce-move.example moves to
    "enforce-move2.example": ("enforce", GOOD),
    "enforce-plain.example": ("enforce", PLAIN),
    "enforce-wrongcert.example": ("enforce", WRONG),
    "testing-rogue.example": ("testing", None, ATTACKER),
    "enforce-unrouted.example": ("enforce", PLAIN2),
    "enforce-restart.example": ("enforce", PLAIN2),
    # not PLAIN: smtpd holds back a host where TLS failed (enforce-plain)
    "nopolicy.example": (None, PLAIN2),
    "skipped.example": ("enforce", PLAIN2),
    "enforce-damaged.example": ("enforce", GOOD),
    "fault-config.example": ("enforce", None, ATTACKER),
    # a partner without a policy, under a static policy of the operator's
    "partner.example": (None, PLAIN2),
    # policy hosts that hang (set up below): a worker waits on each
    "stall-kill.example": ("enforce", GOOD),
    "stall-segv.example": ("enforce", GOOD),
    "stall-bus.example": ("enforce", GOOD),
}
# what smtpd logs when a filter or one of its own processes ends
# (smtpd.c parent_sig_handler: "lost processor", then it shuts down)
CRASHES = ("lost processor", "lost child", "fatal")


def procs():
    """{pid: (ppid, command line)} of every process."""
    found = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError):
            continue
        found[int(entry)] = (ppid, cmd)
    return found


def filter_workers():
    """The pids of filter-mtasts's workers: children of the filter's
    main process (itself a child of smtpd's shell, not of a filter)."""
    p = procs()
    main = [pid for pid, (ppid, cmd) in p.items() if "filter-mtasts" in cmd
            and "filter-mtasts" not in p.get(ppid, (0, ""))[1]]
    return [pid for pid, (ppid, _) in p.items() if ppid in main]


@unittest.skipUnless(READY and FILTER, "needs root and the unpacked "
                     "OpenSMTPD of tools/deps")
class OpenSmtpd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mail = MailWorld(DOMAINS, extra_config=(
            "cache_dir = /var/lib/mtasts/cache\ncache_group = mtasts\n"
            "[domain skipped.example]\nskip = yes\n"
            "[domain partner.example]\nmode = enforce\n"
            "mx = mx.partner.example\n"))
        w = cls.mail.world
        for d in ("stall-kill.example", "stall-segv.example",
                  "stall-bus.example"):
            w.https.sites["mta-sts." + d].how = "hang"
        cls.smtpd = opensmtpd.Smtpd(os.path.join(w.dir, "smtpd"),
                                    os.path.abspath(CONF), FILTER, w.config,
                                    w.ca.cert_file, os.environ["MTASTS"])

    @classmethod
    def tearDownClass(cls):
        cls.smtpd.stop()
        cls.mail.stop()

    def rcpt(self, domain):
        return opensmtpd.rcpt(domain)

    def wait_for(self, address, domain, seconds=15):
        deadline = time.time() + seconds
        while time.time() < deadline:
            got = self.mail.got(address, domain)
            if got:
                return got
            time.sleep(0.1)
        sys.stderr.write(f"--- nothing for {domain}; smtpd's log ends:\n"
                         + self.smtpd.logtext()[-2500:])
        return []

    def accepted_after_routing(self, domain):
        """An enforce domain: the first RCPT installs its route and waits
        for smtpd to load it: accepted, or (if the load is slow) refused
        with 451 until it is."""
        code, text = self.rcpt(domain)
        if code == 250:
            with open(opensmtpd.TABLE) as f:
                self.assertIn(domain + "\n", f.read())
            return
        self.assertEqual(code, 451, text)
        self.assertIn(f"MTA-STS: routing {domain} under its enforce policy",
                      text)
        deadline = time.time() + 10
        while time.time() < deadline:
            code, text = self.rcpt(domain)
            if code == 250:
                return
            time.sleep(0.2)
        self.fail(f"{domain}: still {code} {text}")

    def test_enforce_good_mx_verified_tls(self):
        d = "enforce-good.example"
        self.accepted_after_routing(d)
        self.assertEqual(self.wait_for(GOOD, d), [True])
        # 6.8 and 7.6 say it otherwise
        self.assertRegex(self.smtpd.logtext(),
                         r'server-cert-check result="success"|'
                         r'mta cert-check result="valid"')
        self.assertTrue(self.smtpd.alive())

    def assert_sinks(self, domain, expected):
        """What every sink got for domain: expected maps a sink to the
        [tls] of its messages; every other sink got nothing."""
        for address in self.mail.sinks:
            self.assertEqual(self.mail.got(address, domain),
                             expected.get(address, []), address)

    def test_enforce_mx_outside_policy_refused(self):
        d = "enforce-rogue.example"
        code, text = self.rcpt(d)
        self.assertEqual(code, 451)
        self.assertIn(f"4.7.5 MTA-STS: no MX host of {d} is allowed by "
                      "its policy", text)
        self.assertIn("mx.attacker.example", text)
        time.sleep(1)
        self.assert_sinks(d, {})

    def test_enforce_delivered_to_the_policy_mx_only(self):
        # the attacker's MX comes first (preference 5) and holds a valid
        # certificate for its own name: "relay tls" alone would deliver
        # there; the route names the policy's MX, and only it gets mail
        d = "enforce-mixed.example"
        self.accepted_after_routing(d)
        self.assertEqual(self.wait_for(GOOD, d), [True])
        self.assert_sinks(d, {GOOD: [True]})
        with open(opensmtpd.TABLE + ".routes") as f:
            self.assertIn(f"{d} smtp+tls://mx.{d}:25\n", f.read())

    def test_mx_swapped_after_acceptance(self):
        """Accepted while delivery waits; then DNS names the attacker's
        MX (a valid certificate for its own name) instead of the policy's.
        smtpd does no MX lookup of its own: the mail goes to the route,
        the policy's MX, over verified TLS, and nothing to the attacker
        (RFC 8461 §4.1)."""
        d = "enforce-swap.example"
        zone = self.mail.world.zone
        subprocess.run([self.smtpd.smtpctl, "pause", "mta"], check=True)
        try:
            self.accepted_after_routing(d)
            zone.remove(d, "MX")
            zone.add(d, "MX", (10, "mx.attacker.example"))
        finally:
            subprocess.run([self.smtpd.smtpctl, "resume", "mta"],
                           check=True)
        subprocess.run([self.smtpd.smtpctl, "schedule", "all"],
                       capture_output=True)
        self.assertEqual(self.wait_for(GOOD, d), [True])
        time.sleep(1)
        self.assert_sinks(d, {GOOD: [True]})

    def assert_stays_queued(self, domain, reason):
        """reason: a regular expression (smtpd 6.8 and 7.6 word their
        log lines differently)."""
        self.accepted_after_routing(domain)
        deadline = time.time() + 15
        while (time.time() < deadline and
               not re.search(reason, self.smtpd.logtext())):
            time.sleep(0.2)
        self.assertRegex(self.smtpd.logtext(), reason)
        for address in self.mail.sinks:
            self.assertEqual(self.mail.got(address, domain), [])
        self.assertIn(f"bob@{domain}", self.smtpd.queue())

    def test_enforce_no_starttls_stays_queued(self):
        self.assert_stays_queued("enforce-plain.example",
                                 "TLS required but not supported")

    def test_enforce_wrong_certificate_stays_queued(self):
        self.assert_stays_queued("enforce-wrongcert.example",
                                 "SSL certificate check failed|name "
                                 "`mx.enforce-wrongcert.example' not present"
                                 " in server certificate")

    def test_table_not_reloaded_never_cleartext(self):
        # the table reload does not happen (the path unit failed): smtpd
        # would route the domain as any other, so the filter must hold
        d = "enforce-unrouted.example"
        self.smtpd.reload_off.set()
        try:
            for _ in range(3):
                code, text = self.rcpt(d)
                self.assertEqual(code, 451, text)
                self.assertIn("MTA-STS: routing", text)
                time.sleep(0.5)
        finally:
            self.smtpd.reload_off.clear()
        self.assertEqual(self.mail.got(PLAIN2, d), [])

    def test_mx_down_at_acceptance_then_back(self):
        """The route's host cannot be reached when the message is
        accepted (its address gone from DNS); smtpd keeps the message and
        tries again; once the host is back it gets the mail, over
        verified TLS, and no other host ever does."""
        d = "enforce-down.example"
        zone = self.mail.world.zone
        subprocess.run([self.smtpd.smtpctl, "pause", "mta"], check=True)
        try:
            self.accepted_after_routing(d)
            zone.remove(f"mx.{d}", "A")
        finally:
            subprocess.run([self.smtpd.smtpctl, "resume", "mta"],
                           check=True)
        subprocess.run([self.smtpd.smtpctl, "schedule", "all"],
                       capture_output=True)
        time.sleep(3)
        self.assert_sinks(d, {})
        self.assertIn(f"bob@{d}", self.smtpd.queue())
        zone.add(f"mx.{d}", "A", GOOD)
        subprocess.run([self.smtpd.smtpctl, "schedule", "all"],
                       capture_output=True)
        self.assertEqual(self.wait_for(GOOD, d, seconds=30), [True])
        self.assert_sinks(d, {GOOD: [True]})

    def test_policy_moves_to_another_mx(self):
        """A routed domain publishes a new policy that allows another MX
        host only, and its old one is gone.  The next recipient rewrites
        the route before it is accepted: the mail goes to the new host,
        never waits for the old one the policy no longer names."""
        d, new = "enforce-move.example", "mx.enforce-move2.example"
        w, zone = self.mail.world, self.mail.world.zone
        self.accepted_after_routing(d)
        self.assertEqual(self.wait_for(GOOD, d), [True])
        zone.remove("_mta-sts." + d, "TXT")
        zone.add("_mta-sts." + d, "TXT", "v=STSv1; id=moved")
        w.https.sites["mta-sts." + d].body = policy(mx=(new,)).encode()
        zone.remove(d, "MX")
        zone.add(d, "MX", (10, new))
        zone.remove(f"mx.{d}", "A")
        self.mtasts_refresh_domain(d)
        self.accepted_after_routing(d)
        with open(opensmtpd.TABLE + ".routes") as f:
            self.assertIn(f"{d} smtp+tls://{new}:25\n", f.read())
        deadline = time.time() + 20
        while len(self.mail.got(GOOD, d)) < 2 and time.time() < deadline:
            time.sleep(0.2)
        self.assert_sinks(d, {GOOD: [True, True]})

    def mtasts_refresh_domain(self, domain):
        """The cached policies checked again, as the refresh timer does
        (the cache answers for txt_recheck otherwise)."""
        subprocess.run([os.environ["MTASTS"], "refresh", "--all",
                        "--config", self.mail.world.config],
                       capture_output=True, check=False)

    def test_zz_configuration_refused_fails_closed(self):
        """An operator's override with an indented line, which libinih
        read as one more MX pattern: the attacker's host, the domain's
        only MX.  Now the file is refused at that line: every recipient
        451, nothing sent anywhere."""
        d = "fault-config.example"
        config = self.smtpd.config
        with open(config) as f:
            kept = f.read()
        try:
            with open(config, "a") as f:
                f.write(f"[domain {d}]\nmode = enforce\nmx = mx.{d}\n"
                        "    mx.attacker.example\n")
            self.smtpd.restart()
            for domain in (d, d, "nopolicy.example"):
                code, text = self.rcpt(domain)
                self.assertEqual(code, 451, text)
            time.sleep(2)
            self.assert_sinks(d, {})
            self.assertRegex(self.smtpd.logtext(), r"mtasts\.conf:\d+: not a")
        finally:
            with open(config, "w") as f:
                f.write(kept)
            self.smtpd.restart()

    def test_zz_configuration_emptied_fails_closed(self):
        """An operator's accident empties the file (a crash mid-write, a
        failed configuration run): it read as the defaults, without the
        static policy that protects partner.example.  Now it is refused
        as a missing file is: every recipient 451, nothing sent."""
        config = self.smtpd.config
        with open(config) as f:
            kept = f.read()
        try:
            for text in ("", "; all commented out\n",
                         kept + "[domain cut.example]\nmode = enforce\nmx = mx.c"):
                with open(config, "w") as f:
                    f.write(text)
                self.smtpd.restart()
                for domain in ("partner.example", "nopolicy.example"):
                    code, reply = self.rcpt(domain)
                    self.assertEqual(code, 451, reply)
            time.sleep(2)
            self.assert_sinks("partner.example", {})
            log = self.smtpd.logtext()
            self.assertIn("no [mtasts] section", log)
            self.assertIn("the file ends inside this line", log)
        finally:
            with open(config, "w") as f:
                f.write(kept)
            self.smtpd.restart()

    def test_zz_record_of_an_earlier_smtpd_not_trusted(self):
        """The record says smtpd loaded the domain; the table then shrank
        without a reload (the path unit off), and smtpd restarted: the
        new smtpd has no route for the domain.  The filter must not take
        the old record's word: 451 until a load into the new smtpd, and
        nothing relayed in the clear."""
        d = "enforce-restart.example"
        self.accepted_after_routing(d)
        loaded = "/run/mtasts-smtpd/smtpd-enforce.loaded"
        with open(loaded) as f:
            self.assertIn(d + "\n", f.read())
        self.smtpd.reload_off.set()
        try:
            for path in (opensmtpd.TABLE, opensmtpd.TABLE + ".routes"):
                with open(path) as f:
                    lines = [x for x in f if not x.startswith(d)]
                with open(path + ".new", "w") as f:
                    f.writelines(lines)
                os.chmod(path + ".new", 0o644)
                os.rename(path + ".new", path)
            self.smtpd.restart()
            for _ in range(3):
                code, text = self.rcpt(d)
                self.assertEqual(code, 451, text)
                self.assertIn("MTA-STS: routing", text)
        finally:
            self.smtpd.reload_off.clear()
        # the reload into the new smtpd: routed again (no STARTTLS at its
        # MX: it waits in the queue), never in the clear
        self.accepted_after_routing(d)
        time.sleep(2)
        try:
            self.assert_sinks(d, {})
        except AssertionError:
            sys.stderr.write("--- smtpd's log:\n" + self.smtpd.logtext())
            raise

    def test_zzz_damaged_cache_fails_closed(self):
        """Last: it breaks the cache every test shares.  The cache that
        holds an enforce policy is damaged and the TXT record vanishes,
        a rogue MX appears: nothing may say "no policy"; RCPT is refused
        for now and no server gets anything new."""
        d = "enforce-damaged.example"
        self.accepted_after_routing(d)
        self.assertEqual(self.wait_for(GOOD, d), [True])
        with open("/var/lib/mtasts/cache/data.mdb", "r+b") as f:
            f.write(os.urandom(16384))
        zone = self.mail.world.zone
        zone.remove("_mta-sts." + d, "TXT")
        zone.add(d, "MX", (5, "mx.attacker.example"))
        for _ in range(2):
            code, text = self.rcpt(d)
            self.assertEqual(code, 451, text)
        time.sleep(1)
        self.assert_sinks(d, {GOOD: [True]})
        self.assertTrue(self.smtpd.alive())

    def test_worker_dies_mid_request(self):
        """A worker killed (SIGKILL) or faulting (SIGSEGV, SIGBUS) while
        it waits on a hanging policy host: smtpd stays up, that session
        gets 451, another session is served meanwhile and after, nothing
        is sent for the stalled domain, and smtpd logs no lost process."""
        served = len(self.mail.got(PLAIN2, "nopolicy.example")) + 6
        for sig in (signal.SIGKILL, signal.SIGSEGV, signal.SIGBUS):
            name = signal.Signals(sig).name[3:].lower()
            d = f"stall-{name}.example"
            with self.subTest(signal=name):
                before = set(filter_workers())
                got = {}
                t = threading.Thread(target=lambda: got.update(
                    answer=self.rcpt(d)))
                t.start()
                deadline = time.time() + 2.5
                workers = []
                while not workers and time.time() < deadline:
                    workers = [x for x in filter_workers()
                               if x not in before]
                    time.sleep(0.01)
                self.assertEqual(len(workers), 1, workers)
                # another session while that one waits
                self.assertEqual(self.rcpt("nopolicy.example")[0], 250)
                # the fault guard gives a first SIGSEGV/SIGBUS outside
                # the cache back to the handler before it: send again
                while os.path.exists(f"/proc/{workers[0]}/stat") and \
                        time.time() < deadline + 5:
                    os.kill(workers[0], sig)
                    time.sleep(0.05)
                t.join(30)
                code, text = got["answer"]
                self.assertEqual(code, 451, text)
                self.assertIn("MTA-STS: no decision", text)
                self.assertEqual(self.rcpt("nopolicy.example")[0], 250)
                self.assertTrue(self.smtpd.alive())
                log = self.smtpd.logtext()
                self.assertIn(f"its process died of signal {int(sig)}", log)
                for crash in CRASHES:
                    self.assertNotIn(crash, log)
        deadline = time.time() + 15
        while (len(self.mail.got(PLAIN2, "nopolicy.example")) < served and
               time.time() < deadline):
            time.sleep(0.1)
        for name in ("kill", "segv", "bus"):
            self.assert_sinks(f"stall-{name}.example", {})
        # the sessions served meanwhile: delivered as before (no policy:
        # in the clear, to its MX)
        got = self.mail.got(PLAIN2, "nopolicy.example")
        self.assertEqual(len(got), served)
        self.assertEqual(set(got), {False})

    def test_testing_delivered_and_logged(self):
        d = "testing-rogue.example"
        code, text = self.rcpt(d)
        self.assertEqual(code, 250, text)
        self.assertEqual(self.wait_for(ROGUE, d), [True])
        self.assertIn(f"testing: {d}: enforce would refuse: MX "
                      "mx.attacker.example is not in the policy",
                      self.smtpd.logtext())

    def test_no_policy_delivered_as_before(self):
        d = "nopolicy.example"
        self.assertEqual(self.rcpt(d)[0], 250)
        self.assertEqual(self.wait_for(PLAIN2, d), [False])

    def test_skip_override(self):
        d = "skipped.example"
        self.assertEqual(self.rcpt(d)[0], 250)
        self.assertEqual(self.wait_for(PLAIN2, d), [False])


if __name__ == "__main__":
    unittest.main()
