"""The offline subcommands as a user runs them: policy-lint, txt-lint,
mx-match, config-lint.  JSON shapes and exit statuses are the contract of DESIGN.md."""
import json
import os
import subprocess
import tempfile
import unittest

MTASTS = os.environ["MTASTS"]
GOOD = (b"version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\n"
        b"mx: *.example.net\r\nmax_age: 604800\r\n")


def run(*args, stdin=b""):
    p = subprocess.run([MTASTS, *args], input=stdin, capture_output=True,
                       timeout=30)
    return p.returncode, p.stdout, p.stderr


def run_json(*args, stdin=b""):
    rc, out, err = run(*args, "--json", stdin=stdin)
    return rc, json.loads(out)


class PolicyLint(unittest.TestCase):
    def lint_bytes(self, body):
        with tempfile.NamedTemporaryFile() as f:
            f.write(body)
            f.flush()
            return run_json("policy-lint", f.name)

    def test_valid(self):
        rc, obj = self.lint_bytes(GOOD)
        self.assertEqual(rc, 0)
        self.assertEqual(obj, {"ok": True, "policy": {
            "id": False, "version": "STSv1", "mode": "enforce",
            "mx": ["mail.example.com", "*.example.net"],
            "max_age": 604800, "expires": None}})

    def test_stdin(self):
        rc, obj = run_json("policy-lint", "-", stdin=GOOD)
        self.assertEqual((rc, obj["ok"]), (0, True))

    def test_invalid_has_code_and_message(self):
        rc, obj = self.lint_bytes(b"version: STSv1\nmode: enforced\n")
        self.assertEqual(rc, 1)
        self.assertFalse(obj["ok"])
        self.assertEqual(obj["error"]["code"], "invalid_sts_mode")
        self.assertIn("enforced", obj["error"]["message"])

    def test_hostile_inputs(self):
        cases = {
            b"": "invalid_sts_version",
            b"\x00" * 100: "invalid_sts_policy",
            b"\xef\xbb\xbf" + GOOD: "invalid_sts_policy",
            b"version: STSv1\nmode: \xff\xfe\n": "invalid_sts_policy",
            b"a" * (1024 * 1024): "policy_too_large",
            b"x: " + b"y" * (100 * 1024): "policy_too_large",
            b"version: STSv1\nmode: enforce\nmax_age: 1\n" +
            b"".join(b"mx: m%d.example\n" % i for i in range(10000)):
                "policy_too_large",
        }
        for body, code in cases.items():
            rc, obj = self.lint_bytes(body)
            self.assertEqual(rc, 1, body[:40])
            self.assertEqual(obj["error"]["code"], code, body[:40])
            # messages are printable ASCII, whatever came in
            self.assertTrue(obj["error"]["message"].isprintable())
            self.assertTrue(obj["error"]["message"].isascii())

    def test_exact_cap_is_not_too_large(self):
        body = GOOD + b"x: " + b"y" * (65536 - len(GOOD) - 4) + b"\n"
        self.assertEqual(len(body), 65536)
        rc, obj = self.lint_bytes(body)
        self.assertEqual((rc, obj["ok"]), (0, True))

    def test_missing_file_is_usage_error(self):
        rc, out, err = run("policy-lint", "/nonexistent/policy.txt")
        self.assertEqual(rc, 2)
        self.assertIn(b"No such file", err)

    def test_text_output(self):
        rc, out, _ = run("policy-lint", "-", stdin=GOOD)
        self.assertEqual(rc, 0)
        self.assertIn(b"mode: enforce", out)
        self.assertIn(b"- *.example.net", out)


class TxtLint(unittest.TestCase):
    def test_valid(self):
        rc, obj = run_json("txt-lint", "v=spf1 -all",
                           "v=STSv1; id=20160831085700Z;")
        self.assertEqual((rc, obj), (0, {"ok": True,
                                         "id": "20160831085700Z"}))

    def test_errors(self):
        cases = [
            (["v=STSv1; id=a", "v=STSv1; id=b"], "multi_sts_records"),
            (["v=STSv1; id=not-alnum"], "invalid_sts_id"),
            (["v=STSv1;;"], "invalid_sts_record"),
            (["hello"], "no_sts_record"),
            (["v=STSv1; id=" + "a" * 100000], "invalid_sts_id"),
        ]
        for records, code in cases:
            rc, obj = run_json("txt-lint", *records)
            self.assertEqual(rc, 1)
            self.assertEqual(obj["error"]["code"], code)

    def test_no_record_is_usage_error(self):
        self.assertEqual(run("txt-lint")[0], 2)


class MxMatch(unittest.TestCase):
    def test_patterns(self):
        rc, obj = run_json("mx-match", "--pattern", "*.example.net",
                           "--pattern", "mail.example.com",
                           "MX1.example.net.")
        self.assertEqual((rc, obj), (0, {"valid": True, "mode": "enforce",
                                         "match": "*.example.net",
                                         "testing": False}))
        rc, obj = run_json("mx-match", "--pattern", "*.example.net",
                           "a.b.example.net")
        self.assertEqual((rc, obj), (1, {"valid": False, "mode": "enforce",
                                         "match": None, "testing": False}))

    def test_policy_file_testing_mode(self):
        with tempfile.NamedTemporaryFile() as f:
            f.write(GOOD.replace(b"enforce", b"testing"))
            f.flush()
            rc, obj = run_json("mx-match", "--policy", f.name, "x.example")
        self.assertEqual((rc, obj["valid"], obj["testing"], obj["mode"]),
                         (1, False, True, "testing"))

    def test_bad_pattern_and_usage(self):
        rc, obj = run_json("mx-match", "--pattern", "a\nmode: none", "a")
        self.assertEqual((rc, obj["error"]["code"]), (2, "invalid_sts_mx"))
        self.assertEqual(run("mx-match", "host")[0], 2)
        self.assertEqual(run("mx-match", "--pattern", "a.b")[0], 2)


class ConfigLint(unittest.TestCase):
    """The configuration as the adapters read it: refused with its line
    (they would defer every domain), or read."""
    def lint(self, text, *args, env=None):
        with tempfile.NamedTemporaryFile() as f:
            f.write(text)
            f.flush()
            p = subprocess.run([MTASTS, "config-lint", "--config", f.name,
                                "--json", *args], capture_output=True,
                               timeout=30, env=env)
            return p.returncode, json.loads(p.stdout), f.name

    def test_read(self):
        rc, obj, path = self.lint(b"[mtasts]\ntxt_recheck = 5\n"
                                  b"[domain a.example]\nmode = enforce\n"
                                  b"[domain b.example]\nskip = yes\n")
        self.assertEqual(rc, 0)
        self.assertEqual(obj, {"ok": True, "config": path, "overrides": 2})

    def test_refused_with_its_line(self):
        rc, obj, path = self.lint(b"[domain a.example]\nmode = enforce\n"
                                  b"mx = mx1.a.example\n  *.evil.example\n")
        self.assertEqual(rc, 1)
        self.assertFalse(obj["ok"])
        self.assertEqual(obj["config"], path)
        self.assertEqual(obj["error"]["code"], "config_error")
        self.assertIn(path + ":4: ", obj["error"]["message"])

    def test_an_emptied_file_is_refused(self):
        """Emptied, comments only, or cut inside a line: the adapters
        defer every domain, as without the file; so it is a problem here,
        never "read, 0 overrides"."""
        for text, says in ((b"", "no [mtasts] section"),
                           (b"; all commented out\n\n", "no [mtasts] section"),
                           (b"[mtasts]\n[domain partner.example]\nmode = enforce\nmx = mx.pa",
                            ":4: the file ends inside this line")):
            rc, obj, path = self.lint(text)
            self.assertEqual(rc, 1, text)
            self.assertFalse(obj["ok"])
            self.assertEqual(obj["error"]["code"], "config_error")
            self.assertIn(says, obj["error"]["message"])

    def test_a_missing_file_is_refused(self):
        """The adapters defer every domain without their file: so the
        default file missing is a problem here, not the defaults."""
        env = dict(os.environ, MTASTS_CONFIG="/nonexistent/mtasts.conf")
        p = subprocess.run([MTASTS, "config-lint", "--json"], env=env,
                           capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 1)
        obj = json.loads(p.stdout)
        self.assertFalse(obj["ok"])
        self.assertEqual(obj["config"], "/nonexistent/mtasts.conf")

    def test_usage(self):
        self.assertEqual(run("config-lint", "extra-operand")[0], 2)


class Help(unittest.TestCase):
    def test_help(self):
        rc, out, _ = run("--help")
        self.assertEqual(rc, 0)
        subs = [line.split()[0] for line in out.decode().splitlines()
                if line.startswith("  ")]
        self.assertEqual(subs, ["lookup", "check", "init", "refresh",
                                "cache", "metrics", "tlsrpt", "smtpd-reload",
                                "policy-lint",
                                "txt-lint", "mx-match", "config-lint"])
        for sub in subs:
            rc, sub_out, _ = run(sub, "--help")
            self.assertEqual(rc, 0)
            self.assertIn(b"usage: mtasts " + sub.encode(), sub_out)

    def test_unknown(self):
        self.assertEqual(run("frobnicate")[0], 2)
        self.assertEqual(run("policy-lint", "--bogus", "x")[0], 2)


if __name__ == "__main__":
    unittest.main()
