"""mtasts tlsrpt against the loopback world, without an MTA (so that the
sanitizer build runs it): sessions as the delivery path spools them, hostile
spool lines, folding that never counts a line twice, a line still being
written, and the reports send --dry-run writes; mailto: reports submitted
by SMTP to the relay (an aiosmtpd server on loopback, in a private network
namespace: port 25 of 127.0.0.1, the default), what it accepts, refuses
for good or for now, and relays that never answer, are not there or do
not speak SMTP; and through a sendmail.  The Exim side, the mail and the
https collector: tests/e2e/test_tlsrpt.py."""
import email
import email.policy
import glob
import gzip
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

import netns

if os.geteuid() == 0:
    netns.enter()

from smtp_sink import BrokenSink, Sink  # noqa: E402
from world import World, executable, policy  # noqa: E402

MTASTS = os.environ["MTASTS"]
TODAY = time.strftime("%Y-%m-%d", time.gmtime())
YESTERDAY = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86400))
OLDER = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 3 * 86400))
GOOD = "S1 good.example mx.good.example 192.0.2.25 192.0.2.1 1 1 -\n"
PLAIN = "S1 good.example mx.good.example 192.0.2.25 192.0.2.1 0 0 -\n"
WRONG = ("S1 good.example mx.good.example 192.0.2.25 192.0.2.1 1 0 "
         "certificate-host-mismatch\n")
ROGUE = "S1 good.example mx.rogue.example 192.0.2.66 192.0.2.1 1 1 -\n"
NOPOLICY = "S1 nopolicy.example mx.nopolicy.example - - 1 0 -\n"
# RFC 5322 §3.6.4 msg-id: "<" id-left "@" id-right ">", without the
# obsolete forms: dot-atom-text "@" (dot-atom-text / no-fold-literal)
ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
DOT_ATOM_TEXT = rf"{ATEXT}+(?:\.{ATEXT}+)*"
MSG_ID = re.compile(
    rf"<{DOT_ATOM_TEXT}@(?:{DOT_ATOM_TEXT}|\[[\x21-\x5a\x5e-\x7e]*\])>")
HOSTILE = [
    "garbage\n",
    "S1 good.example mx.good.example 192.0.2.25 192.0.2.1 2 1 -\n",
    "S1 good.example mx.good.example 192.0.2.25 192.0.2.1 1 1 - extra\n",
    "S1 good.example\n",
    "S1 " + "a" * 2000 + " mx 1.2.3.4 1.2.3.4 1 1 -\n",
    "S1 good.example mx.good.example\x00 1.2.3.4 1.2.3.4 1 1 -\n",
    "S1 good.exa\xe9mple mx.good.example 1.2.3.4 1.2.3.4 1 1 -\n",
    "\n",
]


class WorldCase(unittest.TestCase):
    """The world with good.example (enforce) and nopolicy.example, a
    spool, and the command."""

    def setUp(self):
        spool = tempfile.mkdtemp(prefix="mtasts-spool-")
        self.world = World(scenarios={}, extra_config=(
            "tlsrpt = yes\ntlsrpt_submitter = mail.sender.example\n"
            f"tlsrpt_spool = {spool}\n"))
        self.world.add("good.example", site=dict(body=policy(
            "enforce", mx=("mx.good.example",))))
        self.world.add("nopolicy.example", txt=None, site=None)
        self.spool_dir = spool

    def tearDown(self):
        self.world.stop()
        shutil.rmtree(self.spool_dir, ignore_errors=True)

    def spool(self, day, *lines, mode="a"):
        with open(os.path.join(self.spool_dir, "sessions-" + day),
                  mode + "b") as f:
            for line in lines:
                f.write(line.encode("latin-1"))

    def mtasts(self, *args):
        p = subprocess.run([MTASTS, "tlsrpt", *args, "--config",
                            self.world.config], capture_output=True,
                           timeout=120)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def show(self, day=TODAY):
        rc, out, err = self.mtasts("show", "--json", "--date", day)
        self.assertEqual(rc, 0, err)
        return json.loads(out)["domains"]

    def fake_sendmail(self):
        """sendmail = a script that keeps the mail it is given in the
        file it returns, and its arguments in that file + ".args"."""
        kept = os.path.join(self.world.dir, "mail")
        sendmail = executable(
            os.path.join(self.world.dir, "sendmail"),
            f"#!/bin/sh\necho \"$@\" > {kept}.args\ncat > {kept}\n")
        with open(self.world.config, "a") as f:
            f.write(f"sendmail = {sendmail}\n")
        return sendmail, kept


class TlsRpt(WorldCase):
    def test_sessions_classified_under_each_policy(self):
        self.spool(TODAY, GOOD, GOOD, PLAIN, WRONG, ROGUE, NOPOLICY)
        days = self.show()
        [sts] = days["good.example"]
        self.assertEqual(sts["type"], "sts")
        self.assertIn("mx: mx.good.example", sts["policy"])
        self.assertEqual((sts["success"], sts["failure"]), (2, 3))
        self.assertEqual(
            sorted((d["result"], d["mx_host"], d["count"])
                   for d in sts["details"]),
            [("certificate-host-mismatch", "mx.good.example", 1),
             ("starttls-not-supported", "mx.good.example", 1),
             ("validation-failure", "mx.rogue.example", 1)])
        [none] = days["nopolicy.example"]
        # no policy asks nothing of a certificate
        self.assertEqual((none["type"], none["success"], none["failure"]),
                         ("no-policy-found", 1, 0))

    def test_an_unknown_backend_stops_the_fold(self):
        """tlsrpt_backend names a store no backend has: mtasts tlsrpt
        says so and counts nothing; the spool stays for the right one."""
        self.spool(TODAY, GOOD)
        with open(self.world.config, "a") as f:
            f.write("tlsrpt_backend = nosuch\n")
        rc, out, err = self.mtasts("show", "--json", "--date", TODAY)
        self.assertNotEqual(rc, 0)
        self.assertIn("tlsrpt_backend nosuch: no such backend", err)
        self.assertTrue(os.path.exists(
            os.path.join(self.spool_dir, "sessions-" + TODAY)))

    def test_hostile_lines_are_skipped(self):
        self.spool(TODAY, GOOD, *HOSTILE, GOOD)
        [sts] = self.show()["good.example"]
        self.assertEqual((sts["success"], sts["failure"]), (2, 0))
        self.assertEqual(list(self.show()), ["good.example"])

    def test_folded_once(self):
        """A line is counted once however often the spool is read, a
        half-written one when it is whole; yesterday's file stays (a
        delivery that began before midnight may still write to it), an
        older one goes once counted."""
        self.spool(TODAY, GOOD, GOOD)
        self.assertEqual(self.show()["good.example"][0]["success"], 2)
        self.assertEqual(self.show()["good.example"][0]["success"], 2)
        self.spool(TODAY, GOOD, PLAIN[:20])
        sts = self.show()["good.example"][0]
        self.assertEqual((sts["success"], sts["failure"]), (3, 0))
        self.spool(TODAY, PLAIN[20:])
        sts = self.show()["good.example"][0]
        self.assertEqual((sts["success"], sts["failure"]), (3, 1))
        self.spool(YESTERDAY, GOOD)
        self.assertEqual(
            self.show(YESTERDAY)["good.example"][0]["success"], 1)
        self.spool(YESTERDAY, GOOD)  # a delivery that ended late
        self.assertEqual(
            self.show(YESTERDAY)["good.example"][0]["success"], 2)
        self.spool(OLDER, GOOD)
        self.assertEqual(self.show(OLDER)["good.example"][0]["success"], 1)
        self.assertFalse(os.path.exists(
            os.path.join(self.spool_dir, "sessions-" + OLDER)))
        self.assertTrue(os.path.exists(
            os.path.join(self.spool_dir, "sessions-" + YESTERDAY)))

    def test_dry_run_writes_the_reports(self):
        self.world.zone.add("_smtp._tls.good.example", "TXT",
                            "v=TLSRPTv1; rua=mailto:tls@good.example")
        self.spool(YESTERDAY, GOOD, PLAIN, NOPOLICY)
        out_dir = os.path.join(self.world.dir, "reports")
        os.makedirs(out_dir)
        rc, out, err = self.mtasts("send", "--dry-run", out_dir, "--json")
        # a domain without a TLSRPT record is the usual case, no problem
        self.assertEqual(rc, 0, err)
        results = {(r["domain"], r["result"])
                   for r in json.loads(out)["reports"]}
        self.assertEqual(results, {("good.example", "written"),
                                   ("nopolicy.example", "skipped")})
        [path] = glob.glob(os.path.join(out_dir, "*"))
        start = int(time.mktime(time.strptime(YESTERDAY, "%Y-%m-%d"))
                    - time.timezone)
        self.assertEqual(
            os.path.basename(path),
            f"mail.sender.example!good.example!{start}!{start + 86399}"
            ".json.gz")
        with gzip.open(path) as f:
            report = json.load(f)
        self.assertEqual(report["policies"][0]["summary"], {
            "total-successful-session-count": 1,
            "total-failure-session-count": 1})
        self.assertEqual(report["contact-info"],
                         "postmaster@mail.sender.example")
        # nothing marked: the real send still has it to do
        rc, out, err = self.mtasts("send", "--dry-run", out_dir, "--json")
        self.assertEqual(len(json.loads(out)["reports"]), 2)

    def test_report_id_is_a_msg_id(self):
        """RFC 8460 §5.3: the Subject's Report-ID is a msg-id (RFC 5322),
        the JSON's report-id the same, in the form doc/tlsrpt.md gives
        (DAY.DOMAIN@SUBMITTER); the mail through a sendmail that keeps
        what it is given."""
        self.world.zone.add("_smtp._tls.good.example", "TXT",
                            "v=TLSRPTv1; rua=mailto:tls@good.example")
        _, kept = self.fake_sendmail()
        self.spool(YESTERDAY, GOOD)
        rc, out, err = self.mtasts("send", "--json")
        self.assertEqual(rc, 0, err + out)
        with open(kept, "rb") as f:
            msg = email.message_from_bytes(f.read(),
                                           policy=email.policy.default)
        [part] = [p for p in msg.iter_parts()
                  if p.get_content_type() == "application/tlsrpt+gzip"]
        report = json.loads(gzip.decompress(part.get_content()))
        rid = report["report-id"]
        self.assertEqual(rid, f"{YESTERDAY}.good.example@mail.sender.example")
        self.assertRegex("<" + rid + ">", MSG_ID)
        m = re.fullmatch(r"Report Domain: good\.example "
                         r"Submitter: mail\.sender\.example "
                         r"Report-ID: (<[^>]*>)", str(msg["Subject"]))
        self.assertIsNotNone(m, msg["Subject"])
        self.assertRegex(m.group(1), rf"\A{MSG_ID.pattern}\Z")
        self.assertEqual(m.group(1), "<" + rid + ">")

    def test_bad_date_is_a_usage_error(self):
        rc, out, err = self.mtasts("show", "--date", "2026-13-45")
        self.assertEqual(rc, 2)
        self.assertIn("--date", err)


RUA = "mailto:tls@good.example"
SENDER = "noreply-smtp-tls-reporting@mail.sender.example"


@unittest.skipUnless(os.geteuid() == 0, "needs root (namespaces)")
class Relay(WorldCase):
    """mailto: reports by SMTP to tlsrpt_relay (default 127.0.0.1:25)."""

    def setUp(self):
        super().setUp()
        self.world.zone.add("_smtp._tls.good.example", "TXT",
                            f"v=TLSRPTv1; rua={RUA}")
        self.spool(YESTERDAY, GOOD, PLAIN)

    def relay(self, setting):
        with open(self.world.config, "a") as f:
            f.write(f"tlsrpt_relay = {setting}\n")

    def send(self):
        """The run's (exit status, {rua: (result, why)}, seconds)."""
        start = time.monotonic()
        rc, out, err = self.mtasts("send", "--json")
        took = time.monotonic() - start
        self.assertIn(rc, (0, 1), err)
        return rc, {r["rua"]: (r["result"], r["why"])
                    for r in json.loads(out)["reports"]}, took

    def test_the_report_arrives_intact(self):
        """The report, as the relay received it: the envelope, every line
        ended by CRLF, the attachment whole; sent once."""
        sink = Sink("127.0.0.1")
        self.addCleanup(sink.stop)
        rc, reports, _ = self.send()
        self.assertEqual(rc, 0, reports)
        result, why = reports[RUA]
        self.assertEqual(result, "sent")
        self.assertRegex(why, r"^handed to 127\.0\.0\.1:25: 250 ")
        [got] = sink.received()
        self.assertEqual((got.sender, got.recipients),
                         (SENDER, ["tls@good.example"]))
        self.assertTrue(got.helo == "localhost" or "." in got.helo,
                        got.helo)
        self.assertTrue(got.data.endswith(b"\r\n"))
        self.assertNotIn(b"\n", got.data.replace(b"\r\n", b""))
        self.assertNotIn(b"\r", got.data.replace(b"\r\n", b""))
        msg = email.message_from_bytes(got.data,
                                       policy=email.policy.default)
        self.assertEqual(msg["TLS-Report-Domain"], "good.example")
        self.assertEqual(msg["To"], "tls@good.example")
        [part] = [p for p in msg.iter_parts()
                  if p.get_content_type() == "application/tlsrpt+gzip"]
        report = json.loads(gzip.decompress(part.get_content()))
        self.assertEqual(report["report-id"],
                         f"{YESTERDAY}.good.example@mail.sender.example")
        self.assertEqual(report["policies"][0]["summary"], {
            "total-successful-session-count": 1,
            "total-failure-session-count": 1})
        # sent: the next run leaves it
        rc, reports, _ = self.send()
        self.assertEqual((rc, reports), (0, {}))
        self.assertEqual(len(sink.received()), 1)

    def test_a_refusal_is_final(self):
        """A 5xx to RCPT is the relay's word on this mail: failed, and not
        tried again (an IPv6 relay on another port, too)."""
        self.relay("[::1]:2525")
        sink = Sink("::1", port=2525,
                    rcpt_reply="550 5.1.1 <tls@good.example>: no such user")
        self.addCleanup(sink.stop)
        rc, reports, _ = self.send()
        self.assertEqual(rc, 1)
        result, why = reports[RUA]
        self.assertEqual(result, "failed")
        self.assertEqual(why, "[::1]:2525: RCPT TO: 550 5.1.1 "
                              "<tls@good.example>: no such user")
        rc, reports, _ = self.send()
        self.assertEqual((rc, reports), (0, {}))
        self.assertEqual(sink.rcpts, ["tls@good.example"])
        self.assertEqual(sink.received(), [])

    def test_a_temporary_refusal_is_tried_again(self):
        """A 4xx: retry, and the next run delivers."""
        sink = Sink("127.0.0.1", rcpt_reply="451 4.3.0 try again later")
        self.addCleanup(sink.stop)
        rc, reports, _ = self.send()
        self.assertEqual(rc, 1)
        self.assertEqual(reports[RUA], (
            "retry", "127.0.0.1:25: RCPT TO: 451 4.3.0 try again later"))
        sink.rcpt_reply = None
        rc, reports, _ = self.send()
        self.assertEqual(rc, 0)
        self.assertEqual(reports[RUA][0], "sent")
        self.assertEqual(len(sink.received()), 1)
        self.assertEqual(len(sink.rcpts), 2)

    def test_a_relay_that_never_answers(self):
        """A connection accepted and never greeted: retry once the reply's
        deadline (30 s) has passed, not later."""
        server = BrokenSink("127.0.0.1", "silent")
        self.addCleanup(server.stop)
        rc, reports, took = self.send()
        self.assertEqual(rc, 1)
        self.assertEqual(reports[RUA],
                         ("retry", "127.0.0.1:25: greeting: timed out"))
        self.assertGreater(took, 29)
        self.assertLess(took, 45)

    def test_no_relay_or_not_smtp(self):
        """Nobody listening, or a server that does not speak SMTP: retry,
        at once."""
        rc, reports, took = self.send()
        self.assertEqual(rc, 1)
        self.assertEqual(reports[RUA], (
            "retry", "127.0.0.1:25: connect: Connection refused"))
        server = BrokenSink("127.0.0.1", "garbage")
        self.addCleanup(server.stop)
        rc, reports, took = self.send()
        self.assertEqual(rc, 1)
        self.assertEqual(reports[RUA], (
            "retry", "127.0.0.1:25: greeting: not SMTP: hello, this is "
                     "not SMTP"))
        self.assertLess(took, 10)

    def test_sendmail_instead(self):
        """sendmail = PATH: the reports go through it, not the relay (a
        relay listening gets nothing)."""
        sink = Sink("127.0.0.1")
        self.addCleanup(sink.stop)
        sendmail, kept = self.fake_sendmail()
        rc, reports, _ = self.send()
        self.assertEqual((rc, reports[RUA]),
                         (0, ("sent", "handed to " + sendmail)))
        with open(kept + ".args") as f:
            self.assertEqual(f.read().split(),
                             ["-oi", "-f", SENDER, "tls@good.example"])
        self.assertEqual(sink.received(), [])


if __name__ == "__main__":
    unittest.main()
