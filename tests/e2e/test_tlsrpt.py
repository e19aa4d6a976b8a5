"""TLS-RPT (RFC 8460) end to end with a real Exim (Debian's exim4-daemon-
heavy 4.96, exim/exim.conf as shipped) in private network and mount
namespaces: deliveries count their sessions, then `mtasts tlsrpt send`
reports them to a mailto: address (through Exim's own sendmail, named by
sendmail = in mtasts.conf, so that the sendmail path is tested end to end;
the default, SMTP to the local MTA, is tests/deb/exim_installed.py's and
tests/integration/test_tlsrpt.py's) and to an https: collector of the
world, and each report holds exactly what the deliveries did."""
import email
import email.policy
import gzip
import json
import os
import re
import shutil
import subprocess
import threading
import time
import unittest

import exim
import netns

if exim.available():
    netns.enter()

from exim import Exim, minimal_config, tlsrpt_spool
from mail_world import GOOD, PLAIN, WRONG, MailWorld
from world import HTTPS_IP, policy

SO = os.environ.get("MTASTS_EXIM_SO")
EXIM_CONF = os.environ.get("MTASTS_EXIM_CONF")
MTASTS = os.environ.get("MTASTS")
SUBMITTER = "mail.client.example"
RUA = "mailto:tlsrpt@reports.example,https://collector.example/tlsrpt"

# domain -> (mode, sink, TLSRPT records)
DOMAINS = {
    "enforce-good.example": ("enforce", GOOD, [f"v=TLSRPTv1; rua={RUA}"]),
    "enforce-plain.example": ("enforce", PLAIN, [f"v=TLSRPTv1; rua={RUA}"]),
    "enforce-wrongcert.example": ("enforce", WRONG,
                                  [f"v=TLSRPTv1; rua={RUA}"]),
    "testing-wrongcert.example": ("testing", WRONG,
                                  [f"v=TLSRPTv1; rua={RUA}"]),
    "nopolicy.example": (None, GOOD, [f"v=TLSRPTv1; rua={RUA}"]),
    "norecord.example": ("enforce", GOOD, []),
    "tworecords.example": ("enforce", GOOD, [
        "v=TLSRPTv1; rua=mailto:a@reports.example",
        "v=TLSRPTv1; rua=mailto:b@reports.example"]),
    "badscheme.example": ("enforce", GOOD, [
        "v=TLSRPTv1; rua=ftp://collector.example/x,"
        "mailto:tlsrpt@reports.example"]),
    "flaky.example": ("enforce", GOOD, [
        "v=TLSRPTv1; rua=https://collector.example/flaky"]),
    "hang.example": ("enforce", GOOD, [
        "v=TLSRPTv1; rua=https://collector.example/hang"]),
    # its policies are CHANGES_POLICIES, put in place one after the other
    "changes.example": ("testing", GOOD, [f"v=TLSRPTv1; rua={RUA}"]),
    # where the mailto: reports go; no policy, no TLSRPT record
    "reports.example": (None, GOOD, []),
}

# a domain that moves from testing (id 1, 3 sessions) to enforce (a new
# id, 2 sessions) on the day: RFC 8460 §4 reports each session under the
# policy it applied.  Its enforce policy is written by hand, max_age before
# mx and version last, with an extension field and odd spacing: the
# report's policy-string has its lines in that order, "key: value" each,
# without the extension (id, body, policy-string)
CHANGES = "changes.example"
CHANGES_POLICIES = [
    ("1", policy("testing", mx=(f"mx.{CHANGES}",), max_age="86400"),
     ["version: STSv1", "mode: testing", f"mx: mx.{CHANGES}",
      "max_age: 86400"]),
    ("2", f"max_age:604800\r\nmx:   mx.{CHANGES}\r\nx-note: hi\r\n"
          "mode: enforce \r\nversion: STSv1\r\n",
     ["max_age: 604800", f"mx: mx.{CHANGES}", "mode: enforce",
      "version: STSv1"])]

# RFC 5322 §3.6.4 msg-id without the obsolete forms: "<" dot-atom-text "@"
# (dot-atom-text / no-fold-literal) ">"
ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
DOT_ATOM_TEXT = rf"{ATEXT}+(?:\.{ATEXT}+)*"
MSG_ID = (rf"<{DOT_ATOM_TEXT}@"
          rf"(?:{DOT_ATOM_TEXT}|\[[\x21-\x5a\x5e-\x7e]*\])>")

# what each delivery's session must count as: type, successes, failures
EXPECTED = {
    "enforce-good.example": ("sts", 1, {}),
    "enforce-plain.example": ("sts", 0, {"starttls-not-supported": 1}),
    "enforce-wrongcert.example": ("sts", 0,
                                  {"certificate-host-mismatch": 1}),
    "testing-wrongcert.example": ("sts", 0,
                                  {"certificate-host-mismatch": 1}),
    "nopolicy.example": ("no-policy-found", 1, {}),
    "norecord.example": ("sts", 1, {}),
    "tworecords.example": ("sts", 1, {}),
    "badscheme.example": ("sts", 1, {}),
    "flaky.example": ("sts", 1, {}),
    "hang.example": ("sts", 1, {}),
}


def gunzip_json(data):
    return json.loads(gzip.decompress(data))


@unittest.skipUnless(exim.available()
                     and SO and MTASTS,
                     "needs root, Debian's exim4, mtasts_exim.so, mtasts")
class TlsRpt(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # the transports have no other group than Exim's
        cls.spool_parent, spool = tlsrpt_spool()
        cls.mail = MailWorld(
            {d: spec[:2] for d, spec in DOMAINS.items()},
            extra_config="cache_group = mtasts\ntlsrpt = yes\n"
                         f"tlsrpt_spool = {spool}\n"
                         f"tlsrpt_submitter = {SUBMITTER}\n"
                         "tlsrpt_organization = mtasts tests\n"
                         "tlsrpt_contact = postmaster@client.example\n"
                         "sendmail = /usr/sbin/sendmail\n")
        w = cls.world = cls.mail.world
        for domain, (_, _, records) in DOMAINS.items():
            for r in records:
                w.zone.add("_smtp._tls." + domain, "TXT", r)
        w.zone.add("collector.example", "A", HTTPS_IP)
        w.https.certs["collector.example"] = w.ca.issue(
            "collector", ["collector.example"])
        w.https.collectors.update(
            {"/tlsrpt": "ok", "/flaky": "fail", "/hang": "hang"})
        netns.add_group(w.dir, "mtasts", ["Debian-exim"])
        cls.exim = Exim(os.path.join(w.dir, "exim"), minimal_config(
            EXIM_CONF, SO, w.config, w.ca.cert_file))
        cls.today = time.strftime("%Y-%m-%d", time.gmtime())
        cls.msgids = {}
        for domain in EXPECTED:
            cls.msgids[domain] = cls.exim.send("bob@" + domain)
        # CHANGES: 3 deliveries under testing, then the domain publishes
        # enforce under a new id (the cached policy purged, as a TXT
        # re-check would replace it), 2 more
        cls.changes_sent = []
        for n, (pid, body, _) in zip((3, 2), CHANGES_POLICIES):
            w.zone.remove("_mta-sts." + CHANGES, "TXT")
            w.zone.add("_mta-sts." + CHANGES, "TXT", f"v=STSv1; id={pid}")
            w.add_site(CHANGES, body)
            subprocess.run([MTASTS, "cache", "--config", w.config,
                            "purge", CHANGES], capture_output=True,
                           timeout=60)
            for _ in range(n):
                cls.changes_sent.append(cls.exim.send("bob@" + CHANGES))

    @classmethod
    def tearDownClass(cls):
        cls.mail.stop()
        shutil.rmtree(cls.spool_parent, ignore_errors=True)

    def mtasts(self, *args, check=True):
        p = subprocess.run([MTASTS, args[0], "--config", self.world.config,
                            *args[1:]],
                           capture_output=True, text=True, timeout=120)
        if check and p.returncode not in (0, 1):
            self.fail(p.stdout + p.stderr)
        return p

    def show(self):
        p = self.mtasts("tlsrpt", "show", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)["domains"]

    def reports_mail(self):
        """The report mail the sink of reports.example got, parsed."""
        out = []
        for m in self.mail.sinks[GOOD].received("reports.example"):
            raw = m.data if isinstance(m.data, bytes) else m.data.encode()
            out.append((m, email.message_from_bytes(
                raw, policy=email.policy.default)))
        return out

    def wait_for_mail(self, count, timeout=30):
        end = time.time() + timeout
        while time.time() < end and len(self.reports_mail()) < count:
            time.sleep(0.2)
        return self.reports_mail()

    def assert_report(self, report, domain):
        kind, successes, failures = EXPECTED[domain]
        self.assertEqual(report["organization-name"], "mtasts tests")
        self.assertEqual(report["contact-info"], "postmaster@client.example")
        self.assertEqual(report["date-range"], {
            "start-datetime": f"{self.today}T00:00:00Z",
            "end-datetime": f"{self.today}T23:59:59Z"})
        self.assertEqual(len(report["policies"]), 1)
        p = report["policies"][0]
        self.assertEqual(p["policy"]["policy-type"], kind)
        self.assertEqual(p["policy"]["policy-domain"], domain)
        if kind == "sts":
            self.assertEqual(p["policy"]["mx-host"], [f"mx.{domain}"])
            self.assertIn("version: STSv1", p["policy"]["policy-string"])
        self.assertEqual(p["summary"], {
            "total-successful-session-count": successes,
            "total-failure-session-count": sum(failures.values())})
        got = {}
        for d in p.get("failure-details", []):
            got[d["result-type"]] = (got.get(d["result-type"], 0)
                                     + d["failed-session-count"])
            self.assertEqual(d["receiving-mx-hostname"], f"mx.{domain}")
            self.assertIn(d["receiving-ip"], (PLAIN, WRONG))
        if kind == "sts" and failures:
            self.assertEqual(p["policy"]["policy-string"][1],
                             "mode: " + domain.split("-")[0])
            self.assertEqual(d["sending-mta-ip"], "127.0.0.1")
        self.assertEqual(got, failures)

    def test_1_sessions_counted(self):
        """Each delivery's session, as it went: the store's counts per
        domain and result type (the deferred one too)."""
        self.assertIn(self.msgids["enforce-plain.example"],
                      self.exim.queue())
        self.assertEqual(self.mail.got(PLAIN, "enforce-plain.example"), [])
        days = self.show()
        self.assertEqual(set(days), set(EXPECTED) | {CHANGES}, days)
        for domain, (kind, successes, failures) in EXPECTED.items():
            [p] = days[domain]
            self.assertEqual(p["type"], kind, domain)
            self.assertEqual(p["success"], successes, domain)
            self.assertEqual(p["failure"], sum(failures.values()), domain)
            self.assertEqual(
                {d["result"]: d["count"] for d in p["details"]}, failures)

    def test_2_send_twice_at_once(self):
        """Two sends at once: every report delivered once, to each rua;
        the 500 and the hang retried; the missing, double and bad-scheme
        records as RFC 8460 says."""
        results = []

        def run():
            results.append(self.mtasts("tlsrpt", "send", "--date",
                                       self.today, "--json"))
        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(sorted(p.returncode for p in results), [1, 1],
                         [p.stderr for p in results])
        outcomes = {}
        for p in results:
            for r in json.loads(p.stdout)["reports"]:
                outcomes.setdefault((r["domain"], r["rua"]), []).append(
                    r["result"])
        # the reports of domains with a good rua went once, in one run
        for domain in ("enforce-good.example", "enforce-plain.example",
                       "enforce-wrongcert.example",
                       "testing-wrongcert.example", "nopolicy.example",
                       CHANGES):
            for rua in RUA.split(","):
                self.assertEqual(outcomes[(domain, rua)], ["sent"])
        self.assertEqual(
            outcomes[("badscheme.example", "ftp://collector.example/x")],
            ["failed"])
        self.assertEqual(outcomes[("norecord.example", "")],
                         ["skipped"])
        self.assertEqual(outcomes[("tworecords.example", "")],
                         ["skipped"])
        # retried in both runs, one after the other: never sent
        self.assertEqual(
            outcomes[("flaky.example", "https://collector.example/flaky")],
            ["retry", "retry"])
        self.assertEqual(
            outcomes[("hang.example", "https://collector.example/hang")],
            ["retry", "retry"])

        mails = self.wait_for_mail(6)
        time.sleep(1)
        mails = self.reports_mail()
        by_domain = {}
        for received, msg in mails:
            self.assertTrue(received.tls)
            self.assertEqual(msg.get_content_type(), "multipart/report")
            self.assertEqual(msg.get_param("report-type"), "tlsrpt")
            self.assertEqual(msg["TLS-Required"], "No")
            self.assertEqual(msg["TLS-Report-Submitter"], SUBMITTER)
            domain = msg["TLS-Report-Domain"]
            parts = [p for p in msg.iter_parts()
                     if p.get_content_type() == "application/tlsrpt+gzip"]
            self.assertEqual(len(parts), 1)
            name = parts[0].get_filename()
            start = int(time.mktime(time.strptime(self.today, "%Y-%m-%d"))
                        - time.timezone)
            self.assertEqual(
                name, f"{SUBMITTER}!{domain}!{start}!{start + 86399}.json.gz")
            self.assertEqual(received.recipients,
                             ["tlsrpt@reports.example"])
            by_domain.setdefault(domain, []).append(
                gunzip_json(parts[0].get_content()))
        self.assertEqual(sorted(by_domain), sorted([
            "enforce-good.example", "enforce-plain.example",
            "enforce-wrongcert.example",
            "testing-wrongcert.example", "nopolicy.example",
            "badscheme.example", CHANGES]))
        for domain, reports in by_domain.items():
            self.assertEqual(len(reports), 1, domain)
            if domain != CHANGES:
                self.assert_report(reports[0], domain)
        self.__class__.by_domain = by_domain
        # RFC 8460 §5.3: the Subject's Report-ID is a msg-id, the JSON's
        # report-id the same
        for received, msg in mails:
            domain = msg["TLS-Report-Domain"]
            m = re.fullmatch(
                rf"Report Domain: {re.escape(domain)} "
                rf"Submitter: {re.escape(SUBMITTER)} Report-ID: (.*)",
                str(msg["Subject"]))
            self.assertIsNotNone(m, msg["Subject"])
            self.assertRegex(m.group(1), rf"\A{MSG_ID}\Z")
            rid = by_domain[domain][0]["report-id"]
            self.assertEqual(m.group(1), f"<{rid}>")
            self.assertEqual(rid, f"{self.today}.{domain}@{SUBMITTER}")

        posts = [p for p in self.world.https.posts if p[1] == "/tlsrpt"]
        self.assertEqual(len(posts), 6)
        for host, path, ctype, body, _ in posts:
            self.assertEqual(host, "collector.example")
            self.assertEqual(ctype, "application/tlsrpt+gzip")
            report = gunzip_json(body)
            domain = report["policies"][0]["policy"]["policy-domain"]
            if domain != CHANGES:
                self.assert_report(report, domain)
            self.assertEqual(report["report-id"],
                             by_domain[domain][0]["report-id"])

    def test_3_retry_after_the_collector_recovers(self):
        """The collector that answered 500 answers 200: the next send
        delivers that report, once, and nothing else again."""
        self.world.https.collectors["/flaky"] = "ok"
        mails = len(self.reports_mail())
        posts = len(self.world.https.posts)
        p = self.mtasts("tlsrpt", "send", "--date", self.today, "--json")
        got = {(r["domain"], r["rua"]): r["result"]
               for r in json.loads(p.stdout)["reports"]}
        self.assertEqual(got, {
            ("flaky.example", "https://collector.example/flaky"): "sent",
            ("hang.example", "https://collector.example/hang"): "retry"})
        new = self.world.https.posts[posts:]
        self.assertEqual([(x[1], x[4]) for x in new],
                         [("/flaky", "ok"), ("/hang", "hang")])
        time.sleep(1)
        self.assertEqual(len(self.reports_mail()), mails)

    def test_5_a_spool_that_cannot_be_written_costs_no_mail(self):
        """The spool missing (never made, or moved away): the delivery
        goes on as decided (over verified TLS), the session is said not
        counted in Exim's main log."""
        spool = os.path.join(self.spool_parent, "spool")
        os.rename(spool, spool + ".away")
        try:
            before = len(self.mail.got(GOOD, "enforce-good.example"))
            msgid = self.exim.send("bob@enforce-good.example")
            self.assertEqual(
                self.mail.got(GOOD, "enforce-good.example")[before:],
                [True])
            log = self.exim.mainlog(msgid)
            self.assertIn(" Completed", log)
            self.assertIn("MTA-STS TLS-RPT: session to "
                          "mx.enforce-good.example not counted", log)
        finally:
            os.rename(spool + ".away", spool)

    def test_2b_sessions_under_the_policy_they_applied(self):
        """A domain delivered 3 sessions under its testing policy (id 1),
        then published enforce (id 2), then 2 more: the report (mail and
        POST alike) has two policies, testing 3 and enforce 2, each with
        its own policy-string, the policy's lines as published: the
        enforce one max_age first, version last, as its body has them."""
        self.assertEqual(len(self.changes_sent), 5)
        self.assertEqual(len(self.mail.got(GOOD, CHANGES)), 5)
        posts = [gunzip_json(p[3]) for p in self.world.https.posts
                 if p[1] == "/tlsrpt"]
        reports = self.by_domain[CHANGES] + [
            r for r in posts
            if r["policies"][0]["policy"]["policy-domain"] == CHANGES]
        self.assertEqual(len(reports), 2)
        for report in reports:
            got = sorted(
                (p["policy"]["policy-string"],
                 p["policy"]["mx-host"],
                 p["summary"]["total-successful-session-count"],
                 p["summary"]["total-failure-session-count"])
                for p in report["policies"])
            want = sorted(
                (lines, [f"mx.{CHANGES}"], n, 0)
                for (_, _, lines), n in zip(CHANGES_POLICIES, (3, 2)))
            self.assertEqual(got, want)
            enforce = [p["policy"]["policy-string"]
                       for p in report["policies"]
                       if "mode: enforce" in p["policy"]["policy-string"]]
            self.assertEqual(enforce, [[
                "max_age: 604800", f"mx: mx.{CHANGES}", "mode: enforce",
                "version: STSv1"]])
            for p in report["policies"]:
                self.assertEqual(p["policy"]["policy-type"], "sts")

    def test_4_report_mail_not_counted(self):
        """The sessions that carried the reports count for no domain."""
        self.assertNotIn("reports.example", self.show())


if __name__ == "__main__":
    unittest.main()
