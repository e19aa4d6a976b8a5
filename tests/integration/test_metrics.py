"""mtasts metrics against the loopback world, read by Prometheus's own text
parser (Debian's python3-prometheus-client): a known scenario - two
enforce, one testing and one none policy cached, a policy host answering
404, a domain without MTA-STS, a refresh, TLS sessions folded, a report run
- and the exact figures it must give; no duplicate series, and every label
value from its bounded set (one series per domain only with
--per-domain)."""
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from prometheus_client.parser import text_string_to_metric_families

from world import World, policy

MTASTS = os.environ["MTASTS"]
T0 = 1_900_000_000  # the test clock (MTASTS_TEST_NOW)
NOW = T0 + 120  # when the sessions are folded and the metrics read
YESTERDAY = time.strftime("%Y-%m-%d", time.gmtime(NOW - 86400))

# the bounded label sets (mtasts(1), doc/metrics.md)
MODES = {"enforce", "testing", "none"}
STATUSES = {"found", "not_found", "renewed", "cached", "errored"}
OUTCOMES = {"ok", "problem", "error"}
RESULTS = {"success", "starttls-not-supported", "certificate-host-mismatch",
           "certificate-expired", "certificate-not-trusted",
           "validation-failure", "tlsa-invalid", "dnssec-invalid",
           "dane-required", "sts-policy-fetch-error", "sts-policy-invalid",
           "sts-webpki-invalid", "unrecorded", "other"}
REPORT_RESULTS = {"sent", "retry", "failed", "skipped", "error", "claimed",
                  "waiting"}  # the last two: a fleet's store
POLICY_TYPES = {"sts", "no-policy-found"}
CODES = {"no_sts_record", "multi_sts_records", "invalid_sts_record",
         "invalid_sts_id", "invalid_sts_policy", "invalid_sts_version",
         "invalid_sts_mode", "invalid_sts_max_age", "invalid_sts_mx",
         "policy_too_large", "http_status", "http_redirect",
         "http_content_type", "http_error", "tls_error", "timeout",
         "dns_nxdomain", "dns_nodata", "dns_error", "cache_error", "usage",
         "config_error", "io_error", "out_of_memory", "internal_error",
         "tls_setup_error", "http_connect_error", "http_incomplete",
         "not_cached", "no_tlsrpt_record", "proxy_error", "tls_cert_time"}
BOUNDED = {"mode": MODES, "status": STATUSES, "outcome": OUTCOMES,
           "policy_type": POLICY_TYPES}


def session(domain, mx, tls=1, verified=1, cert="-"):
    return (f"S1 {domain} {mx} 192.0.2.25 192.0.2.1 {tls} {verified} "
            f"{cert}\n")


class Metrics(unittest.TestCase):
    def setUp(self):
        self.spool_dir = tempfile.mkdtemp(prefix="mtasts-spool-")
        self.world = World(scenarios={}, extra_config=(
            "txt_recheck = 0\ntlsrpt = yes\n"
            "tlsrpt_submitter = mail.sender.example\n"
            f"tlsrpt_spool = {self.spool_dir}\n"))
        w = self.world
        w.add("e1.example")
        w.add("e2.example")
        w.add("t.example", site=dict(body=policy("testing")))
        w.add("n.example", site=dict(body=policy("none", mx=())))
        w.add("404.example", site=dict(status=404, body="not here"))
        w.add("plain.example", txt=None, site=None)
        self.domains = ["e1.example", "e2.example", "t.example",
                        "n.example", "404.example", "plain.example"]

    def tearDown(self):
        self.world.stop()
        shutil.rmtree(self.spool_dir, ignore_errors=True)

    def run_mtasts(self, *args, now=NOW):
        env = dict(os.environ, MTASTS_TEST_NOW=str(now))
        return subprocess.run([MTASTS, *args, "--config", self.world.config],
                              capture_output=True, env=env, timeout=120,
                              text=True)

    def metrics(self, *args, now=NOW):
        """The figures as {(name, ((label, value), ...)): value}, after
        checking that the output parses, has no series twice, and names
        only label values of the bounded sets."""
        p = self.run_mtasts("metrics", *args, now=now)
        self.assertEqual(p.returncode, 0, p.stderr)
        figures = {}
        for family in text_string_to_metric_families(p.stdout):
            self.assertTrue(family.name.startswith("mtasts_"), family.name)
            self.assertEqual(family.type, "gauge", family.name)
            self.assertTrue(family.documentation, family.name)
            for s in family.samples:
                key = (s.name, tuple(sorted(s.labels.items())))
                self.assertNotIn(key, figures, "a series twice")
                figures[key] = s.value
                for label, value in s.labels.items():
                    if label in BOUNDED:
                        self.assertIn(value, BOUNDED[label], key)
                    elif label == "result":
                        self.assertIn(value, RESULTS | REPORT_RESULTS, key)
                    elif label == "code":
                        self.assertTrue(
                            value in CODES or (value.startswith(
                                "http_status_") and value[12:].isdigit()
                                and len(value) == 15), key)
                    else:
                        self.assertEqual(label, "domain", key)
                        self.assertIn("--per-domain", args, key)
        return figures

    def scenario(self):
        """The cache, a refresh, the sessions of yesterday folded, a
        report run."""
        for d in self.domains:
            p = self.run_mtasts("lookup", d, "--json", now=T0)
            self.assertIn(p.returncode, (0, 1), p.stderr)
        p = self.run_mtasts("refresh", "--all", "--json", now=T0 + 60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["status"]["renewed"], 4)
        with open(os.path.join(self.spool_dir, "sessions-" + YESTERDAY),
                  "w") as f:
            f.write(session("e1.example", "mx1.e1.example") * 2 +
                    session("e1.example", "mx1.e1.example", tls=0,
                            verified=0) +
                    session("e2.example", "mx.rogue.example") +
                    session("t.example", "mx1.t.example", verified=0,
                            cert="certificate-host-mismatch") +
                    session("plain.example", "mx1.plain.example"))
        p = self.run_mtasts("tlsrpt", "show", "--date", YESTERDAY, "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.run_mtasts("tlsrpt", "send", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_known_scenario(self):
        self.scenario()
        m = self.metrics()
        self.assertEqual(m.pop(("mtasts_cache_readable", ())), 1)
        for mode, n in (("enforce", 2), ("testing", 1), ("none", 1)):
            self.assertEqual(
                m.pop(("mtasts_cache_policies", (("mode", mode),))), n)
        for status, n in (("found", 0), ("renewed", 4), ("cached", 0),
                          ("not_found", 1), ("errored", 1)):
            self.assertEqual(
                m.pop(("mtasts_cache_records", (("status", status),))), n)
        # the domain without MTA-STS is no failure; the 404 is
        self.assertEqual(m.pop(("mtasts_discovery_failures",
                                (("code", "http_status_404"),))), 1)
        self.assertEqual(m.pop(("mtasts_cache_lost_enforce_policies", ())),
                         0)
        size = m.pop(("mtasts_cache_map_bytes", ()))
        used = m.pop(("mtasts_cache_used_bytes", ()))
        self.assertEqual(size, 64 << 20)  # cache_size's default, 64 MiB
        self.assertTrue(0 < used < size, used)

        def tls(ptype, mode, result):
            return ("mtasts_tlsrpt_sessions", (
                ("mode", mode), ("policy_type", ptype), ("result", result)))
        for key, n in ((tls("sts", "enforce", "success"), 2),
                       (tls("sts", "enforce", "starttls-not-supported"), 1),
                       (tls("sts", "enforce", "validation-failure"), 1),
                       (tls("sts", "testing", "certificate-host-mismatch"),
                        1),
                       (tls("no-policy-found", "none", "success"), 1)):
            self.assertEqual(m.pop(key), n, key)

        self.assertEqual(
            m.pop(("mtasts_refresh_last_run_timestamp_seconds", ())),
            T0 + 60)
        for outcome in OUTCOMES:
            self.assertEqual(m.pop(("mtasts_refresh_last_outcome",
                                    (("outcome", outcome),))),
                             outcome == "ok")
        for status, n in (("found", 0), ("renewed", 4), ("cached", 0),
                          ("not_found", 0), ("errored", 0)):
            self.assertEqual(m.pop(("mtasts_refresh_last_domains",
                                    (("status", status),))), n)

        self.assertEqual(
            m.pop(("mtasts_tlsrpt_send_last_run_timestamp_seconds", ())),
            NOW)
        for outcome in OUTCOMES:
            self.assertEqual(m.pop(("mtasts_tlsrpt_send_last_outcome",
                                    (("outcome", outcome),))),
                             outcome == "ok")
        # no domain of the world publishes _smtp._tls: each skipped
        for result, n in (("sent", 0), ("retry", 0), ("failed", 0),
                          ("skipped", 4), ("error", 0), ("claimed", 0),
                          ("waiting", 0)):
            self.assertEqual(m.pop(("mtasts_tlsrpt_send_last_reports",
                                    (("result", result),))), n)
        # never a report delivered: absent, not 0; nothing else said
        self.assertEqual(m, {})

    def test_absent_until_the_runs_happened(self):
        """Before any refresh or report run, their figures are absent (a
        missing state is not a zero)."""
        self.run_mtasts("lookup", "e1.example", now=T0)
        names = {name for name, _ in self.metrics()}
        self.assertIn("mtasts_cache_policies", names)
        self.assertFalse({n for n in names if "_last_" in n}, names)
        self.assertNotIn("mtasts_tlsrpt_sessions", names)

    def test_json_says_the_same(self):
        self.scenario()
        text = self.metrics()
        p = self.run_mtasts("metrics", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        from_json = {
            (f["name"], tuple(sorted(s["labels"].items()))): s["value"]
            for f in json.loads(p.stdout)["metrics"] for s in f["samples"]}
        self.assertEqual(from_json, text)

    def test_per_domain(self):
        self.scenario()
        m = self.metrics("--per-domain")
        expiry = {dict(labels)["domain"]: dict(labels)["mode"]
                  for (name, labels) in m
                  if name == "mtasts_domain_policy_expiry_timestamp_seconds"}
        self.assertEqual(expiry, {"e1.example": "enforce",
                                  "e2.example": "enforce",
                                  "t.example": "testing",
                                  "n.example": "none"})
        self.assertEqual(m[("mtasts_domain_policy_expiry_timestamp_seconds",
                            (("domain", "e1.example"), ("mode", "enforce")))],
                         NOW + 86400)  # renewed by the fold's lookup
        failing = [labels for (name, labels) in m
                   if name == "mtasts_domain_discovery_failures"]
        self.assertEqual(failing, [(("code", "http_status_404"),
                                    ("domain", "404.example"))])

    def test_output_is_replaced_whole(self):
        """--output: the file node-exporter reads, replaced by a rename
        (nothing else left in its directory), readable by everyone."""
        self.scenario()
        out = tempfile.mkdtemp(prefix="mtasts-textfile-")
        try:
            path = os.path.join(out, "mtasts.prom")
            for _ in range(2):
                p = self.run_mtasts("metrics", "--output", path)
                self.assertEqual((p.returncode, p.stdout), (0, ""),
                                 p.stderr)
            self.assertEqual(os.listdir(out), ["mtasts.prom"])
            self.assertEqual(os.stat(path).st_mode & 0o777, 0o644)
            with open(path) as f:
                self.assertEqual(f.read(), self.run_mtasts("metrics").stdout)
            p = self.run_mtasts("metrics", "--output", path, "--json")
            self.assertEqual(p.returncode, 2)
        finally:
            shutil.rmtree(out)


if __name__ == "__main__":
    unittest.main()
