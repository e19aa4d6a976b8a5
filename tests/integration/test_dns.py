"""dns.c on its own, through dns_run, against the loopback world's DNS
server (tests/world/dns_server.py) and libunbound: what dns.h promises of
an answer (TXT strings joined, MX preferences, addresses as text), the
codes that tell NXDOMAIN, NODATA, SERVFAIL and silence apart, and the
deadline of every query.  What discovery makes of the answers:
test_discover.py."""
import os
import subprocess
import time
import unittest

from runner import parse
from world import World

RUN = os.environ["DNS_RUN"]


class Dns(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.world = World(scenarios={})
        z = cls.world.zone
        z.add("_mta-sts.one.example", "TXT", "v=STSv1; id=one1")
        # one record of several character-strings (RFC 1035 §3.3.14)
        z.add("_mta-sts.split.example", "TXT",
              ["v=STSv1; ", "id=", "split2"])
        z.add("_mta-sts.two.example", "TXT", "v=STSv1; id=first")
        z.add("_mta-sts.two.example", "TXT", "v=STSv1; id=second")
        # larger than a UDP answer may be: it comes over TCP, whole
        cls.big = ["v=STSv1; id=big; "] + ["x" * 250] * 16
        z.add("_mta-sts.big.example", "TXT", cls.big)
        z.add("_mta-sts.cname.example", "CNAME", "sts.provider.example")
        z.add("sts.provider.example", "TXT", "v=STSv1; id=viacname")
        z.add("_mta-sts.nodata.example", "A", "192.0.2.1")
        z.add("_mta-sts.servfail.example", "TXT", "v=STSv1; id=never")
        z.set_behaviour("_mta-sts.servfail.example", "servfail")
        z.add("_mta-sts.silent.example", "TXT", "v=STSv1; id=never")
        z.set_behaviour("_mta-sts.silent.example", "timeout")
        for pref, host in ((20, "mx2.mx.example"), (0, "mx0.mx.example"),
                           (300, "backup.mx.example")):
            z.add("mx.example", "MX", (pref, host))
        # a label with a byte no host name has: not to be handed out
        z.add("badmx.example", "MX", (10, "mx 1.badmx.example"))
        z.add("host.example", "A", "192.0.2.7")
        z.add("host.example", "AAAA", "2001:db8::7")

    @classmethod
    def tearDownClass(cls):
        cls.world.stop()

    def ask(self, *queries, timeout_ms=2000):
        """Runs dns_run; returns ({index: answer}, {index: [records]},
        the other lines, seconds taken)."""
        start = time.monotonic()
        p = subprocess.run([RUN, self.world.config, str(timeout_ms),
                            *queries], capture_output=True, text=True,
                           timeout=60)
        took = time.monotonic() - start
        self.assertEqual(p.returncode, 0, p.stderr)
        answers, records, other = {}, {}, []
        for line in p.stdout.splitlines():
            if line.startswith("answer="):
                a = parse(line)
                answers[int(a["answer"])] = a
            elif line.startswith("record="):
                r = parse(line)
                records.setdefault(int(r["record"]), []).append(r)
            else:
                other.append(line)
        return answers, records, other, took

    def one(self, query, **kwargs):
        answers, records, _, _ = self.ask(query, **kwargs)
        return answers[0], records.get(0, [])

    def test_one_txt_record(self):
        a, recs = self.one("txt:_mta-sts.one.example")
        self.assertEqual((a["code"], a["count"]), ("ok", "1"))
        self.assertEqual([(r["data"], r["len"]) for r in recs],
                         [("v=STSv1; id=one1", "16")])

    def test_strings_of_a_record_are_joined(self):
        """RFC 8461 §3.1: the strings are concatenated, nothing between."""
        a, recs = self.one("txt:_mta-sts.split.example")
        self.assertEqual(a["count"], "1")
        self.assertEqual(recs[0]["data"], "v=STSv1; id=split2")

    def test_two_records_are_two(self):
        """Both handed out, unjoined: txt.c's rule of one STSv1 record
        (multi_sts_records) needs to see both."""
        a, recs = self.one("txt:_mta-sts.two.example")
        self.assertEqual((a["code"], a["count"]), ("ok", "2"))
        self.assertEqual(sorted(r["data"] for r in recs),
                         ["v=STSv1; id=first", "v=STSv1; id=second"])

    def test_a_record_too_large_for_udp(self):
        a, recs = self.one("txt:_mta-sts.big.example")
        self.assertEqual(a["code"], "ok")
        want = "".join(self.big)
        self.assertEqual((recs[0]["data"], int(recs[0]["len"])),
                         (want, len(want)))

    def test_cname_is_followed(self):
        a, recs = self.one("txt:_mta-sts.cname.example")
        self.assertEqual(a["code"], "ok")
        self.assertEqual([r["data"] for r in recs], ["v=STSv1; id=viacname"])

    def test_failures_have_codes_of_their_own(self):
        """NXDOMAIN and NODATA answer for the domain; SERVFAIL does not:
        discovery tells "no policy" from "no answer" by these codes."""
        for name, code in (("_mta-sts.none.example", "dns_nxdomain"),
                           ("_mta-sts.nodata.example", "dns_nodata"),
                           ("_mta-sts.servfail.example", "dns_error")):
            with self.subTest(name=name):
                a, recs = self.one("txt:" + name)
                self.assertEqual((a["code"], a["count"], recs),
                                 (code, "0", []))
                self.assertIn(name, a["message"])

    def test_silence_ends_at_the_deadline(self):
        a, recs = self.one("txt:_mta-sts.silent.example", timeout_ms=1000)
        self.assertEqual((a["code"], recs), ("timeout", []))
        self.assertIn("timed out", a["message"])
        # not before it, and not long after it
        self.assertGreaterEqual(int(a["elapsed_ms"]), 1000)
        self.assertLess(int(a["elapsed_ms"]), 2000)

    def test_mx_preferences(self):
        """Each host with its own preference (both bytes: 300 > 255), in
        whatever order the server sent them: the caller sorts."""
        a, recs = self.one("mx:mx.example")
        self.assertEqual((a["code"], a["count"]), ("ok", "3"))
        self.assertEqual(sorted((int(r["pref"]), r["data"]) for r in recs),
                         [(0, "mx0.mx.example"), (20, "mx2.mx.example"),
                          (300, "backup.mx.example")])

    def test_mx_host_that_is_no_host_name(self):
        """dns.h: a name with a byte no host name has is never handed out
        (it could name another host, or break a log line)."""
        a, recs = self.one("mx:badmx.example")
        self.assertEqual(a["code"], "dns_error")
        self.assertIn("malformed", a["message"])
        self.assertNotIn("mx 1", "".join(r["data"] for r in recs))

    def test_addresses_as_text(self):
        a, recs = self.one("a:host.example")
        self.assertEqual([r["data"] for r in recs], ["192.0.2.7"])
        a, recs = self.one("aaaa:host.example")
        self.assertEqual([r["data"] for r in recs], ["2001:db8::7"])

    def test_queries_at_once(self):
        """A silent name holds up no other: each answer comes when it is
        there, the silent one at the deadline; dns_pending() and
        dns_next_deadline() follow the queries."""
        answers, records, other, took = self.ask(
            "txt:_mta-sts.silent.example", "txt:_mta-sts.one.example",
            "mx:mx.example", "txt:_mta-sts.none.example", timeout_ms=1500)
        self.assertEqual(other[0], "pending=4 next_deadline_ms=1500")
        self.assertEqual(other[-1], "pending=0 next_deadline_ms=-1")
        self.assertEqual([answers[i]["code"] for i in range(4)],
                         ["timeout", "ok", "ok", "dns_nxdomain"])
        self.assertEqual(records[1][0]["data"], "v=STSv1; id=one1")
        self.assertEqual(len(records[2]), 3)
        for i in (1, 2, 3):
            self.assertLess(int(answers[i]["elapsed_ms"]), 1000)
        self.assertGreaterEqual(int(answers[0]["elapsed_ms"]), 1500)
        self.assertLess(took, 5)


if __name__ == "__main__":
    unittest.main()
