"""smtp_submit() (common/net/smtp_submit.c) against real SMTP servers on
loopback (aiosmtpd, and servers that misbehave on purpose), through
smtp_submit_run: the message arrives as it was written, whatever its line
ends and leading dots; every failure is told, quickly when the server
says something that is not SMTP or never stops talking.  What mtasts
tlsrpt send makes of it: test_tlsrpt.py."""
import os
import subprocess
import time
import unittest

import netns

if os.geteuid() == 0:
    netns.enter()

from smtp_sink import BrokenSink, Sink  # noqa: E402

RUN = os.environ["SMTP_SUBMIT_RUN"]
FROM = "noreply@sender.example"
RCPT = "tls@reports.example"


def submit(address, port, message, rcpt=RCPT):
    p = subprocess.run([RUN, address, str(port), FROM, rcpt],
                       input=message, capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode().strip()


@unittest.skipUnless(os.geteuid() == 0, "needs root (namespaces)")
class Submit(unittest.TestCase):
    def test_the_message_arrives_as_written(self):
        """RFC 5321 §4.5.2: lines starting with "." are stuffed on the
        wire and unstuffed by the server, a lone "." inside the message
        does not end it; §2.3.8: every line arrives ended by CRLF, whether
        it was written with LF, CRLF or nothing (the last)."""
        sink = Sink("127.0.0.1", port=2525)
        self.addCleanup(sink.stop)
        message = (b"Subject: dots\n\n.\n.hidden\r\n..two\nnot.first\n"
                   b"\n.\r\nlast.")
        rc, out = submit("127.0.0.1", 2525, message)
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"^MESSAGE 250 250 OK$")
        [got] = sink.received()
        self.assertEqual(got.data, b"Subject: dots\r\n\r\n.\r\n.hidden\r\n"
                                   b"..two\r\nnot.first\r\n\r\n.\r\n"
                                   b"last.\r\n")
        self.assertEqual((got.sender, got.recipients), (FROM, [RCPT]))
        self.assertTrue(got.helo == "localhost" or "." in got.helo,
                        got.helo)

    def test_ipv6(self):
        sink = Sink("::1", port=2525)
        self.addCleanup(sink.stop)
        rc, out = submit("::1", 2525, b"Subject: six\n\nhi\n")
        self.assertEqual(rc, 0, out)
        self.assertEqual(len(sink.received()), 1)

    def test_a_refusal_is_told_with_its_reply(self):
        sink = Sink("127.0.0.1", port=2525,
                    rcpt_reply="550-5.1.1 no such\r\n550 5.1.1 user \x1b[2J")
        self.addCleanup(sink.stop)
        rc, out = submit("127.0.0.1", 2525, b"Subject: no\n\nhi\n")
        self.assertEqual(rc, 1)
        # both lines, the escape made harmless
        self.assertEqual(
            out, "RCPT 550 RCPT TO: 550-5.1.1 no such 5.1.1 user ?[2J")
        self.assertEqual(sink.received(), [])

    def test_failures_are_told(self):
        """Each at once: no waiting out a deadline on a server that has
        said what it is."""
        for how, says in (
                ("garbage", "GREETING 0 greeting: not SMTP: hello, this is "
                            "not SMTP"),
                ("endless", "GREETING 0 greeting: reply too long"),
                ("hangup", "EHLO 0 EHLO: connection closed")):
            with self.subTest(how=how):
                server = BrokenSink("127.0.0.1", how, port=2526)
                try:
                    start = time.monotonic()
                    rc, out = submit("127.0.0.1", 2526, b"x\n")
                    self.assertEqual((rc, out), (1, says))
                    self.assertLess(time.monotonic() - start, 5)
                finally:
                    server.stop()
        rc, out = submit("127.0.0.1", 2527, b"x\n")
        self.assertEqual((rc, out),
                         (1, "CONNECT 0 connect: Connection refused"))


if __name__ == "__main__":
    unittest.main()
