"""The fleet over TLS (issue 26): fleet = rediss://HOST:PORT to a real
redis-server listening with TLS only (--tls-port, --port 0), its
certificate issued by the test world's CA (fleet_ca_file).  A node shares
a policy through it; a certificate from another CA, or for another name,
is refused before any command is sent and the node decides alone; plain
redis:// to the TLS port fails clearly.  Where this build's hiredis has
no TLS (Debian 12's 0.14) rediss:// is refused when the configuration is
read, never turned into a cleartext connection, and the rest is
skipped."""
import os
import subprocess
import tempfile
import time
import unittest

from world import World
from redis_world import Garbage, Nodes, Redis, free_port, needs_redis

MTASTS = os.environ["MTASTS"]


def config_lint(text):
    with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
        f.write(text)
        f.flush()
        return subprocess.run([MTASTS, "config-lint", "--config", f.name],
                              capture_output=True, text=True, timeout=30)


def build_has_tls():
    """Whether this build's hiredis has TLS: a rediss:// configuration
    is read (or refused: NoTls checks how)."""
    return config_lint("[mtasts]\nfleet = rediss://localhost\n"
                       ).returncode == 0


HAS_TLS = build_has_tls()
needs_tls = unittest.skipUnless(HAS_TLS, "skipped: hiredis without TLS")


class NoTls(unittest.TestCase):
    @unittest.skipIf(HAS_TLS, "this build's hiredis has TLS")
    def test_rediss_is_refused_where_hiredis_has_no_tls(self):
        """Debian 12: refused at once, with what to do instead."""
        p = config_lint("[mtasts]\nfleet = rediss://localhost\n")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("rediss://: this build's hiredis has no TLS "
                      "(Debian 12); use a unix socket", p.stdout + p.stderr)


@needs_redis
@needs_tls
class FleetTls(Nodes, unittest.TestCase):
    def start_redis(self, cert):
        """A Redis with TLS only on localhost: cert (certificate then
        key) for its handshakes; its unix socket for the test's INFO."""
        self.port = free_port()
        self.redis = Redis(os.path.join(self.world.dir, "redis"), args=[
            "--tls-port", str(self.port), "--bind", "127.0.0.1 -::1",
            "--tls-cert-file", cert, "--tls-key-file", cert,
            "--tls-auth-clients", "no"])

    def setUp(self):
        self.world = World(scenarios={})
        self.redis = None
        self.scheme = "rediss"

    def fleet_url(self):
        return f"{self.scheme}://localhost:{self.port}"

    def tearDown(self):
        if self.redis:
            self.redis.stop()
        self.world.stop()

    def tls_node(self, name, **settings):
        return self.node(name, fleet_ca_file=self.world.ca.cert_file,
                         **settings)

    def commands(self):
        """What Redis was asked, but the test's own INFO."""
        return {k: v for k, v in self.redis.stats().items()
                if k.startswith("cmdstat_") and k != "cmdstat_info"}

    def test_a_policy_is_shared_over_tls(self):
        """Node B, whose TXT record is stripped, enforces the policy node
        A learned: both reached Redis only through its TLS port."""
        self.start_redis(self.world.ca.issue("redis", ["localhost"]))
        d = "fleet.example"
        self.world.add(d)
        a, b = self.tls_node("a"), self.tls_node("b")
        r = self.lookup(a, d)
        self.assertEqual((r["status"], r["verdict"]), ("found", "enforce"))
        self.assertNotIn("cache_error", r)
        self.strip(d)
        r = self.lookup(b, d)
        self.assertNotIn("cache_error", r)
        self.assertEqual((r["verdict"], r["policy"]["mode"]),
                         ("enforce", "enforce"))
        self.assertEqual(self.world.fetches(d), 1)
        self.assertIn("cmdstat_hmget", self.commands())

    def refused(self, cert, words, **settings):
        """A node whose fleet's certificate is refused: the refusal said
        (words), no command sent, and the node decides alone - the policy
        from the network, and a domain stripped is none."""
        self.start_redis(cert)
        self.world.add("enforced.example")
        self.world.add("plain.example", txt=None, site=None)
        node = self.tls_node("a", **settings)
        r = self.lookup(node, "enforced.example")
        self.assertEqual(r["verdict"], "enforce")
        r = self.lookup(node, "plain.example")
        self.assertEqual((r["status"], r["verdict"]), ("not_found", "none"))
        message = r["cache_error"]["message"]
        self.assertIn(f"{self.scheme}://localhost:{self.port}", message)
        for w in words:
            self.assertIn(w, message)
        self.assertEqual(self.commands(), {})
        return message

    def test_a_certificate_of_another_ca_is_refused(self):
        self.refused(self.world.stranger.issue("redis", ["localhost"]),
                     ["certificate is refused", "local issuer"])

    def test_a_certificate_of_another_name_is_refused(self):
        self.refused(self.world.ca.issue("redis", ["redis.other.example"]),
                     ["certificate is refused", "hostname mismatch"])

    def test_the_system_bundle_knows_no_test_ca(self):
        """Without fleet_ca_file, the system's bundle: the test CA's
        certificate is refused."""
        self.start_redis(self.world.ca.issue("redis", ["localhost"]))
        self.world.add("plain.example", txt=None, site=None)
        r = self.lookup(self.node("a"), "plain.example")
        bundle = "/etc/ssl/certs/ca-certificates.crt"
        message = r["cache_error"]["message"]
        self.assertIn(bundle, message)
        # refused, or (no ca-certificates installed) unread
        self.assertIn("certificate is refused" if os.path.exists(bundle)
                      else "cannot be read", message)
        self.assertEqual(self.commands(), {})

    def test_a_silent_server_costs_one_deadline(self):
        """A server that never answers the handshake: given up after
        fleet_timeout, the node deciding alone."""
        silent = Garbage(silent=True)
        self.port = silent.port
        self.world.add("plain.example", txt=None, site=None)
        node = self.tls_node("a", fleet_timeout="0.5")
        start = time.monotonic()
        r = self.lookup(node, "plain.example")
        elapsed = time.monotonic() - start
        silent.stop()
        self.assertEqual((r["status"], r["verdict"]), ("not_found", "none"))
        self.assertIn("no TLS handshake within 500 ms",
                      r["cache_error"]["message"])
        self.assertLess(elapsed, 5)

    def test_rediss_to_a_plain_port_fails_clearly(self):
        """Redis answers a ClientHello as a command: no TLS, no command."""
        self.port = free_port()
        self.redis = Redis(os.path.join(self.world.dir, "redis"),
                           port=self.port)
        self.world.add("plain.example", txt=None, site=None)
        r = self.lookup(self.tls_node("a"), "plain.example")
        self.assertEqual((r["status"], r["verdict"]), ("not_found", "none"))
        message = r["cache_error"]["message"]
        self.assertIn("TLS handshake failed", message)
        self.assertIn("is it Redis' TLS port?", message)
        self.assertEqual(self.commands(), {})

    def test_plain_redis_to_the_tls_port_fails_clearly(self):
        self.scheme = "redis"
        self.refused(self.world.ca.issue("redis", ["localhost"]),
                     ["HMGET: Connection reset by peer"])


if __name__ == "__main__":
    unittest.main()
