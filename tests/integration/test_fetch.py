"""fetch.c on its own, through fetch_run (fetch_now()), against the
loopback world's HTTPS server (tests/world/https_server.py) and its test
CA: RFC 8461 §3.3 - a policy served with 200 and text/plain is taken; a
redirect is not followed; any other status, another media type, a body
over 64 KiB, a certificate not trusted or not for mta-sts.<domain> are
refused, each with its code; a server that stalls costs at most the
fetch deadline.  What discovery makes of it: test_discover.py."""
import concurrent.futures
import os
import subprocess
import unittest

from runner import parse
from world import CLOSED_IP, HTTPS_IP, TARPIT_IP, World, policy

RUN = os.environ["FETCH_RUN"]
CAP = 65536  # MTASTS_POLICY_MAX_BYTES


def padded(size):
    """A valid policy of exactly size bytes (an extension line fills it:
    RFC 8461 §3.2 lets unknown keys be)."""
    head = policy().format(d="cap.example")
    filler = size - len(head) - len("x: \r\n")
    return head + "x: " + "y" * filler + "\r\n"


SITES = {
    "crlf.example": dict(),
    "lf.example": dict(site=dict(body=policy(eol="\n"))),
    "charset.example": dict(site=dict(ctype="text/plain; charset=utf-8")),
    "cap.example": dict(site=dict(body=padded(CAP))),
    "overcap.example": dict(site=dict(body=padded(CAP + 1))),
    "overcapnolength.example": dict(site=dict(body=padded(CAP + 1),
                                              how="nolength")),
    "huge404.example": dict(site=dict(status=404, body="z" * (1 << 20))),
    "redirect.example": dict(site=dict(status=301, location=(
        "https://mta-sts.crlf.example/.well-known/mta-sts.txt"))),
    "found.example": dict(site=dict(status=302, location=(
        "https://mta-sts.crlf.example/.well-known/mta-sts.txt"))),
    "404.example": dict(site=dict(status=404, body="not here")),
    "500.example": dict(site=dict(status=500, body="oops")),
    "204.example": dict(site=dict(status=204, body="")),
    "html.example": dict(site=dict(ctype="text/html")),
    "plainer.example": dict(site=dict(ctype="text/plainer")),
    "notype.example": dict(site=dict(ctype=None)),
    "wrongname.example": dict(cert="wrongname"),
    "untrusted.example": dict(cert="untrusted"),
    "expired.example": dict(cert="expired"),
    "hang.example": dict(site=dict(how="hang")),
    "drip.example": dict(site=dict(how="drip")),
    "cut.example": dict(site=dict(how="cut")),
    "badmaxage.example": dict(site=dict(body=policy(max_age="-1"))),
}


class Fetch(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.world = World(scenarios=SITES)

    @classmethod
    def tearDownClass(cls):
        cls.world.stop()

    def fetch(self, domain, *addrs, user_agent=True):
        args = [] if user_agent else ["--no-user-agent"]
        p = subprocess.run([RUN, *args, self.world.config, domain,
                            *(addrs or [HTTPS_IP])], capture_output=True,
                           text=True, timeout=60)
        self.assertIn(p.returncode, (0, 1), p.stderr)
        out = parse(p.stdout)
        self.assertEqual(p.returncode, 0 if out["code"] == "ok" else 1)
        return out

    def test_a_policy_served_as_rfc8461_says(self):
        for domain in ("crlf.example", "lf.example", "charset.example"):
            with self.subTest(domain=domain):
                r = self.fetch(domain)
                self.assertEqual(
                    (r["code"], r["mode"], r["max_age"], r["mx"]),
                    ("ok", "enforce", "86400",
                     f"mx1.{domain},mx2.{domain}"))
                # the TXT id and the expiry are discovery's to set
                self.assertEqual((r["id"], r["expires"]), ("", "0"))

    def test_the_64_kib_cap(self):
        """§3.3 lets a sender cap the body: 64 KiB is taken, one byte more
        is not, with or without a Content-Length saying so."""
        r = self.fetch("cap.example")
        self.assertEqual((r["code"], r["mode"]), ("ok", "enforce"))
        for domain in ("overcap.example", "overcapnolength.example"):
            with self.subTest(domain=domain):
                self.assertEqual(self.fetch(domain)["code"],
                                 "policy_too_large")
        # a refusal with a large page is a refusal, not a large policy
        self.assertEqual(self.fetch("huge404.example")["code"],
                         "http_status_404")

    def test_redirect_is_not_followed(self):
        """§3.3: "HTTP 3xx redirects MUST NOT be followed"."""
        for domain in ("redirect.example", "found.example"):
            with self.subTest(domain=domain):
                before = self.world.fetches("crlf.example")
                r = self.fetch(domain)
                self.assertEqual(r["code"], "http_redirect")
                self.assertIn("mta-sts.crlf.example", r["message"])
                self.assertEqual(self.world.fetches("crlf.example"), before)
                self.assertNotIn("mode", r)

    def test_only_200_is_a_policy(self):
        for domain, code in (("404.example", "http_status_404"),
                             ("500.example", "http_status_500"),
                             ("204.example", "http_status_204")):
            with self.subTest(domain=domain):
                self.assertEqual(self.fetch(domain)["code"], code)

    def test_only_text_plain(self):
        for domain in ("html.example", "plainer.example", "notype.example"):
            with self.subTest(domain=domain):
                self.assertEqual(self.fetch(domain)["code"],
                                 "http_content_type")

    def test_certificate_must_be_trusted_and_for_the_host(self):
        for domain, code in (("wrongname.example", "tls_error"),
                             ("untrusted.example", "tls_error"),
                             ("expired.example", "tls_cert_time")):
            with self.subTest(domain=domain):
                before = self.world.fetches(domain)
                self.assertEqual(self.fetch(domain)["code"], code)
                # refused at the handshake: nothing was asked
                self.assertEqual(self.world.fetches(domain), before)

    def test_a_server_that_stalls_costs_the_deadline(self):
        """fetch_timeout (3 s in the world) bounds the whole transfer:
        silent after the request, a body a byte at a time, a TCP peer
        that never speaks TLS (the tarpit)."""
        cases = (("hang.example", HTTPS_IP), ("drip.example", HTTPS_IP),
                 ("crlf.example", TARPIT_IP))
        with concurrent.futures.ThreadPoolExecutor(len(cases)) as pool:
            results = list(pool.map(lambda c: self.fetch(*c), cases))
        for (domain, ip), r in zip(cases, results):
            with self.subTest(domain=domain, ip=ip):
                self.assertEqual(r["code"], "timeout")
                self.assertGreaterEqual(int(r["elapsed_ms"]), 1900)
                self.assertLess(int(r["elapsed_ms"]), 4500)

    def test_a_connection_cut_short(self):
        self.assertEqual(self.fetch("cut.example")["code"], "http_incomplete")

    def test_every_address_is_tried(self):
        self.assertEqual(self.fetch("crlf.example", CLOSED_IP)["code"],
                         "http_connect_error")
        r = self.fetch("crlf.example", CLOSED_IP, HTTPS_IP)
        self.assertEqual((r["code"], r["mode"]), ("ok", "enforce"))

    def test_a_bad_policy_says_why(self):
        self.assertEqual(self.fetch("badmaxage.example")["code"],
                         "invalid_sts_max_age")

    def test_user_agent(self):
        def agents():
            return [ua for h, _, ua in self.world.https.requests
                    if h == "mta-sts.lf.example"]
        self.fetch("lf.example")
        self.assertRegex(agents()[-1], r"^mtasts/\d+\.\d+")
        self.fetch("lf.example", user_agent=False)
        self.assertIsNone(agents()[-1])


if __name__ == "__main__":
    unittest.main()
