"""lookup.c and mtasts lookup against the real loopback world: a DNS
server, an HTTPS server with a test CA, a tarpit.

Lookup: every hostile behaviour RFC 8461 names has a scenario
(tests/world/world.py) with the status and error mtasts lookup must give.
Rules: lookup.c's own rules, through lookup_run (lookup_run() and a real
LMDB cache, the clock moved by MTASTS_TEST_NOW): a cached policy serves
while fresh (txt_recheck), then its TXT id is checked; a failure keeps a
policy in force until it expires (RFC 8461 §5); "no policy" is kept for
negative_ttl, errors back off from error_retry; overrides answer first.
What the command and many processes make of the cache: test_cache.py."""
import json
import os
import subprocess
import tempfile
import time
import unittest

from https_server import Site
from runner import parse
from world import SCENARIOS, World, expected_verdict, policy

MTASTS = os.environ["MTASTS"]
LOOKUP_RUN = os.environ["LOOKUP_RUN"]
T0 = 1_900_000_000  # the test clock's start (MTASTS_TEST_NOW)


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


class RulesWorld(unittest.TestCase):
    """lookup.c through lookup_run; a world and a cache for each test."""
    extra = "txt_recheck = 900\nnegative_ttl = 3600\nerror_retry = 60\n"

    def setUp(self):
        self.world = World(scenarios={}, extra_config=self.extra)
        self.addCleanup(self.world.stop)

    def lookup(self, *domains, now=T0, force=False):
        """[result] of one lookup_run() of domains at time now."""
        env = dict(os.environ, MTASTS_TEST_NOW=str(now))
        p = subprocess.run([LOOKUP_RUN, self.world.config,
                            *(["--force"] if force else []), *domains],
                           capture_output=True, text=True, env=env,
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        results = [parse(x) for x in p.stdout.splitlines()]
        for r in results:
            self.assertEqual(r["cache_error"], "ok", r)
        return results

    def one(self, domain, **kwargs):
        [r] = self.lookup(domain, **kwargs)
        return r

    def queries(self, name):
        return sum(1 for q, _ in self.world.zone.queries if q == name)

    def set_txt(self, domain, record):
        self.world.zone.remove("_mta-sts." + domain, "TXT")
        if record is not None:
            self.world.zone.add("_mta-sts." + domain, "TXT", record)


class Rules(RulesWorld):
    def test_fresh_policy_serves_without_the_network(self):
        d = "a.example"
        self.world.add(d)
        r = self.one(d)
        self.assertEqual((r["status"], r["source"]), ("found", "network"))
        asked = self.queries("_mta-sts." + d)
        r = self.one(d, now=T0 + 899)
        self.assertEqual((r["status"], r["source"], r["mode"]),
                         ("cached", "cache", "enforce"))
        self.assertEqual(self.queries("_mta-sts." + d), asked)
        # txt_recheck has passed: the TXT id is checked, the same id
        # renews the policy without a fetch (RFC 8461 §5.1)
        r = self.one(d, now=T0 + 900)
        self.assertEqual((r["status"], r["source"]), ("renewed", "network"))
        self.assertEqual(int(r["expires"]), T0 + 900 + 86400)
        self.assertEqual(self.queries("_mta-sts." + d), asked + 1)
        self.assertEqual(self.world.fetches(d), 1)

    def test_force_asks_the_network(self):
        d = "a.example"
        self.world.add(d)
        self.one(d)
        r = self.one(d, now=T0 + 10, force=True)
        self.assertEqual((r["status"], r["source"]), ("renewed", "network"))

    def test_failures_keep_the_policy_until_it_expires(self):
        """RFC 8461 §5: a new id whose policy cannot be fetched, then the
        TXT record gone: the policy fetched at T0 stays in force, the
        reason told beside it, until its max_age runs out."""
        d = "b.example"
        self.world.add(d)
        self.one(d)
        self.set_txt(d, "v=STSv1; id=changed")
        sites = self.world.https.sites
        sites["mta-sts." + d] = Site(status=500, body="down",
                                     cert=sites["mta-sts." + d].cert)
        r = self.one(d, now=T0 + 1000)
        self.assertEqual((r["status"], r["source"], r["code"], r["mode"]),
                         ("cached", "network", "http_status_500", "enforce"))
        self.assertEqual(self.world.fetches(d), 2)
        # the failed refresh is not tried again at every delivery: until
        # error_retry has passed, the policy serves from the cache
        r = self.one(d, now=T0 + 1059)
        self.assertEqual((r["status"], r["source"]), ("cached", "cache"))
        self.assertEqual(self.world.fetches(d), 2)
        self.set_txt(d, None)
        r = self.one(d, now=T0 + 2000)
        self.assertEqual((r["status"], r["code"], r["mode"],
                          int(r["expires"])),
                         ("cached", "dns_nodata", "enforce", T0 + 86400))
        r = self.one(d, now=T0 + 86400 + 1)
        self.assertEqual((r["status"], r["code"]),
                         ("not_found", "dns_nodata"))
        self.assertNotIn("mode", r)

    def test_an_expired_policy_is_fetched_not_renewed(self):
        """RFC 8461 §5.1: past its max_age a policy is gone; the same TXT
        id no longer renews it."""
        d = "c.example"
        self.world.add(d)
        self.one(d)
        r = self.one(d, now=T0 + 86400 + 1)
        self.assertEqual((r["status"], r["source"]), ("found", "network"))
        self.assertEqual(self.world.fetches(d), 2)

    def test_no_policy_is_kept_for_negative_ttl(self):
        d = "plain.example"
        self.world.add(d, txt=None, site=None)
        self.assertEqual(self.one(d)["status"], "not_found")
        r = self.one(d, now=T0 + 3599)
        self.assertEqual((r["status"], r["source"], r["code"]),
                         ("not_found", "cache", "dns_nxdomain"))
        self.assertEqual(self.one(d, now=T0 + 3600)["source"], "network")

    def test_errors_back_off(self):
        """An error is kept error_retry (60 s), then twice as long after
        each error in a row."""
        d = "broken.example"
        self.world.add(d, site=dict(status=404, body="no"))
        t = T0
        for delay in (60, 120, 240):
            r = self.one(d, now=t)
            self.assertEqual((r["status"], r["source"], r["code"]),
                             ("errored", "network", "http_status_404"))
            r = self.one(d, now=t + delay - 1)
            self.assertEqual((r["status"], r["source"]),
                             ("errored", "cache"))
            t += delay
        self.assertEqual(self.world.fetches(d), 3)

    def test_several_domains_at_once(self):
        """One call, results in the order asked: a fresh one from the
        cache, a new one from the network, a name that is none."""
        self.world.add("old.example")
        self.world.add("new.example", site=dict(body=policy("testing")))
        self.one("old.example")
        results = self.lookup("old.example", "new.example",
                              "not..a.domain", now=T0 + 10)
        self.assertEqual([(r["status"], r["source"]) for r in results],
                         [("cached", "cache"), ("found", "network"),
                          ("errored", "network")])
        self.assertEqual(results[1]["mode"], "testing")
        self.assertEqual((results[2]["code"], results[2]["undecided"]),
                         ("usage", "1"))


class RulesOverrides(RulesWorld):
    """The operator's word answers before the cache and the network."""
    extra = """
[domain skipped.example]
skip = yes

[domain static.example]
mode = enforce
mx = Mail.Static.Example.

[domain relaxed.example]
mode = testing
"""

    def test_overrides(self):
        w = self.world
        w.add("skipped.example")
        w.add("static.example", txt=None, site=None)
        w.add("relaxed.example")
        r = self.one("skipped.example")
        self.assertEqual((r["status"], r["source"], r["override"]),
                         ("not_found", "override", "skip"))
        r = self.one("static.example")
        self.assertEqual((r["status"], r["source"], r["override"],
                          r["mode"], r["mx"]),
                         ("found", "override", "static", "enforce",
                          "mail.static.example"))
        for d in ("skipped.example", "static.example"):
            self.assertEqual(self.queries("_mta-sts." + d), 0)
        # discovered, then its mode replaced
        r = self.one("relaxed.example")
        self.assertEqual((r["status"], r["source"], r["override"],
                          r["mode"], r["mx"]),
                         ("found", "network", "mode", "testing",
                          "mx1.relaxed.example,mx2.relaxed.example"))


if __name__ == "__main__":
    unittest.main()
