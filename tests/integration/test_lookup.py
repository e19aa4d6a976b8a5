"""mtasts lookup against the real loopback world: a DNS server, an HTTPS
server with a test CA, a tarpit.  Every hostile behaviour RFC 8461 names
has a scenario (tests/world/world.py) with the status and error it must
give."""
import json
import os
import subprocess
import tempfile
import time
import unittest

from world import SCENARIOS, World, expected_verdict

MTASTS = os.environ["MTASTS"]


def lookup(config, *args, env=None):
    # discovery alone: the cache has tests of its own
    p = subprocess.run([MTASTS, "lookup", "--config", config, "--json",
                        "--no-cache", *args], capture_output=True,
                       timeout=60, env=env)
    out = json.loads(p.stdout) if p.stdout.strip() else None
    return p.returncode, out, p.stderr.decode()


def code_of(result):
    return result["policy"].get("error", {}).get("code")


class Lookup(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.world = World()

    @classmethod
    def tearDownClass(cls):
        cls.world.stop()

    def test_every_scenario_concurrently(self):
        domains = list(SCENARIOS)
        start = time.monotonic()
        rc, out, err = lookup(self.world.config, *domains)
        elapsed = time.monotonic() - start
        self.assertEqual(rc, 1, err)  # some lookups errored
        got = {r["domain"]: (r["status"], code_of(r), r["verdict"])
               for r in out["results"]}
        for domain, s in SCENARIOS.items():
            with self.subTest(domain=domain):
                status, code, verdict = got[domain]
                if code is not None and code == s.get("or_code"):
                    code = s["expect"][1]
                self.assertEqual((status, code, verdict),
                                 (*s["expect"], expected_verdict(domain)))
        # a deadline, not a speed claim: every step is bounded (DNS 2 s,
        # connect 2 s, fetch 3 s), so nothing may hang the whole run
        self.assertLess(elapsed, 15)

    def test_found_shape(self):
        rc, out, _ = lookup(self.world.config, "CRLF.example.")
        self.assertEqual(rc, 0)
        self.assertEqual(out["domain"], "crlf.example")
        self.assertEqual(out["status"], "found")
        self.assertEqual(out["dnssec"], "insecure")
        p = out["policy"]
        self.assertEqual(p["id"], "20261122")
        self.assertEqual(p["version"], "STSv1")
        self.assertEqual(p["mode"], "enforce")
        self.assertEqual(p["mx"], ["mx1.crlf.example", "mx2.crlf.example"])
        self.assertEqual(p["max_age"], 86400)
        expires = time.mktime(time.strptime(p["expires"],
                                            "%Y-%m-%dT%H:%M:%SZ"))
        expires -= time.timezone
        self.assertAlmostEqual(expires, time.time() + 86400, delta=120)
        self.assertNotIn("error", p)

    def test_each_scenario_alone(self):
        # one process per domain: no state carried between lookups
        for domain in ("wildcard.example", "nosts.example", "html.example",
                       "cname.example"):
            with self.subTest(domain=domain):
                rc, out, _ = lookup(self.world.config, domain)
                self.assertEqual((out["status"], code_of(out)),
                                 SCENARIOS[domain]["expect"])

    def test_user_agent_names_mtasts(self):
        lookup(self.world.config, "lf.example")
        agents = {ua for h, _, ua in self.world.https.requests
                  if h == "mta-sts.lf.example"}
        self.assertTrue(agents)
        for ua in agents:
            self.assertRegex(ua, r"^mtasts/\d+\.\d+")

    def test_environment_proxy_ignored(self):
        env = dict(os.environ, https_proxy="http://127.0.0.9:9",
                   HTTPS_PROXY="http://127.0.0.9:9",
                   all_proxy="http://127.0.0.9:9")
        rc, out, _ = lookup(self.world.config, "crlf.example", env=env)
        self.assertEqual(out["status"], "found")

    def test_configured_proxy_is_used(self):
        with self.with_config("proxy = http://127.0.0.3:9\n") as f:
            rc, out, _ = lookup(f.name, "crlf.example")
        # the proxy is this host's: its failure is no answer, it defers
        self.assertEqual((out["status"], code_of(out), out["verdict"]),
                         ("errored", "proxy_error", "defer"))

    def test_domain_file(self):
        with tempfile.NamedTemporaryFile("w") as f:
            f.write("# partners\ncrlf.example\n\n  lf.example  # two\n"
                    "404.example\n")
            f.flush()
            rc, out, _ = lookup(self.world.config, "--file", f.name)
        self.assertEqual([r["status"] for r in out["results"]],
                         ["found", "found", "errored"])

    def test_invalid_domain_argument(self):
        rc, out, _ = lookup(self.world.config, "not a domain")
        self.assertEqual((rc, out["status"], code_of(out)),
                         (2, "errored", "usage"))
        # any bytes: the JSON stays valid, the operand said back in ASCII
        rc, out, _ = lookup(self.world.config, b"caf\xe9.example")
        self.assertEqual((rc, out["domain"], code_of(out)),
                         (2, "caf\\xe9.example", "usage"))

    def test_resolver_that_never_answers(self):
        with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
            f.write("[mtasts]\nresolver = 127.0.0.1@9\ndns_timeout = 1\n")
            f.flush()
            start = time.monotonic()
            rc, out, _ = lookup(f.name, "crlf.example")
        self.assertEqual(out["status"], "errored")
        self.assertIn(code_of(out), ("timeout", "dns_error"))
        self.assertLess(time.monotonic() - start, 10)
        # a dead resolver is this host's fault: nothing said "no policy"
        self.assertEqual((out["verdict"], out.get("undecided")),
                         ("defer", True))

    def with_config(self, extra="", bundle=None):
        """The world's configuration plus extra lines; bundle replaces
        its CA bundle."""
        with open(self.world.config) as src:
            text = src.read()
        if bundle is not None:
            text = text.replace(self.world.ca.cert_file, bundle)
        f = tempfile.NamedTemporaryFile("w", suffix=".conf")
        f.write(text + extra)
        f.flush()
        return f

    def test_unreadable_ca_bundle_defers(self):
        # this host's CA store, not the policy host: never "no policy"
        for bundle in ("/nonexistent/ca.pem", "/dev/null", "/etc"):
            with self.subTest(bundle=bundle), \
                    self.with_config(bundle=bundle) as f:
                rc, out, _ = lookup(f.name, "crlf.example")
                self.assertEqual((out["status"], code_of(out),
                                  out["verdict"]),
                                 ("errored", "tls_setup_error", "defer"))

    def test_unreadable_ca_path_defers(self):
        with self.with_config("ca_path = /nonexistent/certs\n") as f:
            rc, out, _ = lookup(f.name, "crlf.example")
        self.assertEqual((code_of(out), out["verdict"]),
                         ("tls_setup_error", "defer"))

    def test_unicode_domain_is_looked_up_as_a_labels(self):
        rc, out, _ = lookup(self.world.config, "bücher.example")
        self.assertEqual((rc, out["domain"], out["status"]),
                         (0, "xn--bcher-kva.example", "found"))
        self.assertEqual(out["verdict"], "enforce")

    def test_unconvertible_unicode_domain_defers(self):
        # IDNA 2008 refuses these: no domain, so no "no policy" either
        for name in ("a\u2488.example", "\u0661\u06f1.example"):
            with self.subTest(name=name):
                rc, out, _ = lookup(self.world.config, name)
                self.assertEqual((rc, code_of(out), out["verdict"]),
                                 (2, "usage", "defer"))

    def test_shipped_example_configuration_parses(self):
        example = os.path.join(os.path.dirname(__file__), "..", "..",
                               "module", "mtasts.conf.example")
        rc, out, err = lookup(example, "not..a.domain")
        self.assertEqual((rc, code_of(out)), (2, "usage"), err)

    def test_bad_configuration(self):
        cases = {
            "[mtasts]\nresolver = not an address\n": "resolver",
            "[mtasts]\nbogus = 1\n": "unknown setting",
            "[other]\nx = 1\n": "unknown section",
            "[mtasts]\ndns_timeout = -1\n": "dns_timeout",
            "[mtasts]\nconcurrency = 0\n": "concurrency",
            "garbage line\n": "not a",
        }
        for text, words in cases.items():
            with self.subTest(text=text), \
                    tempfile.NamedTemporaryFile("w") as f:
                f.write(text)
                f.flush()
                rc, out, err = lookup(f.name, "crlf.example")
                self.assertEqual(rc, 2)
                self.assertIn(words, err)
                self.assertIn(f.name + ":", err)
        rc, out, err = lookup("/nonexistent.conf", "crlf.example")
        self.assertEqual(rc, 2)
        self.assertIn("No such file", err)


if __name__ == "__main__":
    unittest.main()
