"""A fleet of mtasts nodes sharing one Redis (issue 26), against the real
loopback world and a real redis-server of the test's own (on a unix
socket, no persistence): RFC 8461 §5 across the fleet, one discovery per
fleet, a warm lookup that never reaches Redis, and the faults - Redis
down, garbage, silent, a wrong password - with the default rule and
with fleet_strict."""
import json
import os
import subprocess
import threading
import time
import unittest

from world import World
from redis_world import (REDIS_CLI, Garbage, Nodes, Redis, Stream, drip,
                         flood, needs_redis)

MTASTS = os.environ["MTASTS"]


@needs_redis
class Fleet(Nodes, unittest.TestCase):
    def setUp(self):
        self.world = World(scenarios={})
        self.redis = Redis(os.path.join(self.world.dir, "redis"))

    def fleet_url(self):
        return f"redis+unix://{self.redis.socket}"

    def tearDown(self):
        self.redis.stop()
        self.world.stop()

    def test_a_node_keeps_the_policy_its_peer_learned(self):
        """RFC 8461 §5 across the fleet: node B never saw the domain, its
        TXT record is stripped and the policy host answers 404, yet B
        enforces the policy node A learned; a host alone would not."""
        d = "fleet.example"
        self.world.add(d)
        a, b = self.node("a"), self.node("b")
        alone = self.node("alone", fleet=False)
        r = self.lookup(a, d)
        self.assertEqual((r["status"], r["verdict"]), ("found", "enforce"))
        self.strip(d)
        r = self.lookup(b, d)
        self.assertEqual((r["verdict"], r["policy"]["mode"]),
                         ("enforce", "enforce"))
        self.assertNotIn("cache_error", r)
        self.assertEqual(self.world.fetches(d), 1)
        # without the fleet: what RFC 8461 lets a host alone do
        r = self.lookup(alone, d)
        self.assertEqual((r["status"], r["verdict"]), ("not_found", "none"))
        # B keeps it in its own cache: with Redis gone, still enforce
        self.redis.stop()
        r = self.lookup(b, d)
        self.assertEqual(r["verdict"], "enforce")

    def test_nodes_missing_one_domain_make_one_fetch(self):
        d = "cold.example"
        self.world.add(d, site={"delay": 1.0})
        nodes = [self.node(n) for n in ("a", "b", "c")]
        procs = [subprocess.Popen([MTASTS, "lookup", d, "--config", n,
                                   "--json"], stdout=subprocess.PIPE)
                 for n in nodes]
        out = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
        self.assertEqual([r["verdict"] for r in out], ["enforce"] * 3)
        self.assertEqual(self.world.fetches(d), 1)
        self.assertEqual(sorted(r["source"] for r in out),
                         ["cache", "cache", "network"])

    def test_a_warm_lookup_never_reaches_redis(self):
        d = "warm.example"
        self.world.add(d)
        a = self.node("a")
        self.assertEqual(self.lookup(a, d)["verdict"], "enforce")
        before = self.redis.stats()
        r = self.lookup(a, d)
        after = self.redis.stats()
        self.assertEqual((r["status"], r["source"]), ("cached", "cache"))
        # one connection between the two: redis-cli's own
        self.assertEqual(after["total_connections_received"] -
                         before["total_connections_received"], 1)
        for k in after:
            if k.startswith("cmdstat_") and k != "cmdstat_info":
                self.assertEqual(before.get(k), after[k], k)

    def test_redis_down_the_node_decides_alone(self):
        """Default: the node decides from its cache and the network, and
        says once why the fleet did not help; fleet_strict defers a
        domain the network says has no policy."""
        self.world.add("enforced.example")
        self.world.add("plain.example", txt=None, site=None)
        self.redis.stop()
        node = self.node("a")
        strict = self.node("s", fleet_strict="yes")
        start = time.monotonic()
        r = self.lookup(node, "enforced.example")
        self.assertEqual(r["verdict"], "enforce")
        r = self.lookup(node, "plain.example")
        self.assertEqual((r["status"], r["verdict"]), ("not_found", "none"))
        self.assertEqual(r["cache_error"]["code"], "io_error")
        self.assertIn("not shared with the fleet", r["cache_error"]["message"])
        self.assertIn("redis+unix://", r["cache_error"]["message"])
        r = self.lookup(strict, "plain.example")
        self.assertEqual(r["verdict"], "defer")
        self.assertEqual(r["cache_error"]["code"], "cache_error")
        self.assertIn("fleet_strict", r["cache_error"]["message"])
        # a policy from the network still answers a strict node
        self.assertEqual(self.lookup(strict, "enforced.example")["verdict"],
                         "enforce")
        self.assertLess(time.monotonic() - start, 20)

    def test_a_strict_node_with_its_fleet_decides_as_usual(self):
        """fleet_strict defers only what the fleet cannot answer: with
        Redis up, a domain without a policy is none, and its answer is
        shared."""
        self.world.add("plain.example", txt=None, site=None)
        strict = self.node("s", fleet_strict="yes")
        r = self.lookup(strict, "plain.example")
        self.assertEqual((r["status"], r["verdict"]), ("not_found", "none"))
        self.assertNotIn("cache_error", r)
        self.assertIn("mtasts:policy:plain.example",
                      self.redis.cli("KEYS", "*"))

    def test_garbage_and_silence_cost_one_deadline(self):
        d = "g.example"
        self.world.add(d)
        for server in (Garbage(b"HTTP/1.1 400 Bad\r\n\r\n"),
                       Garbage(b"*3\r\n:1\r\n:2\r\n:3\r\n"),
                       Garbage(b"$99999999\r\nshort"),
                       Garbage(silent=True)):
            r, took, _ = self.hostile(server, d)
            # one deadline for the whole lookup, not one per command
            self.assertLess(took, 4, r)

    def lookup_measured(self, config, domain, timeout=30):
        """lookup(), with the seconds it took and the peak RSS (KiB) of
        its process alone; killed after timeout."""
        with open(os.path.join(self.world.dir, "out.json"), "w+b") as out:
            start = time.monotonic()
            p = subprocess.Popen([MTASTS, "lookup", domain, "--config",
                                  config, "--json"], stdout=out,
                                 stderr=subprocess.DEVNULL)
            timer = threading.Timer(timeout, p.kill)
            timer.start()
            _, status, usage = os.wait4(p.pid, 0)
            timer.cancel()
            p.returncode = 0  # reaped here: Popen must not wait again
            took = time.monotonic() - start
            self.assertTrue(os.WIFEXITED(status),
                            f"killed after {took:.1f} s")
            self.assertIn(os.WEXITSTATUS(status), (0, 1))
            out.seek(0)
            return json.load(out), took, usage.ru_maxrss

    def hostile(self, server, d):
        """A lookup of d (a domain under enforce) against server as the
        fleet, fleet_timeout 0.5 s: the node decides from the network,
        says why the fleet did not help."""
        try:
            node = self.node(f"n{server.port}",
                             fleet=f"redis://127.0.0.1:{server.port}",
                             fleet_timeout="0.5")
            r, took, rss = self.lookup_measured(node, d)
        finally:
            server.stop()
        self.assertEqual(r["verdict"], "enforce", r)
        self.assertEqual(r["cache_error"]["code"], "io_error", r)
        self.assertIn(f"fleet redis://127.0.0.1:{server.port}",
                      r["cache_error"]["message"])
        return r, took, rss

    def test_a_dripping_reply_costs_one_deadline(self):
        """Every read() comes in time, the reply never ends: the deadline
        is the command's, not each read's."""
        d = "drip.example"
        self.world.add(d)
        r, took, _ = self.hostile(
            Stream(b"$100000\r\n", lambda: drip(b"x", 0.3)), d)
        self.assertIn("no answer within 500 ms", r["cache_error"]["message"])
        self.assertLess(took, 2.5, r)

    def test_a_huge_reply_is_refused_early(self):
        """A bulk string of 2 GB announced, then bytes as fast as they
        go (256 MiB of them, so that a client without a cap ends too):
        refused at the cap, the process stays small."""
        d = "huge.example"
        self.world.add(d)
        r, took, rss = self.hostile(Stream(
            b"$2000000000\r\n", lambda: flood(b"x" * 65536, 256 << 20)), d)
        self.assertLess(rss, 100 * 1024, r)
        self.assertLess(took, 2.5, r)
        self.assertIn("reply larger than", r["cache_error"]["message"])

    def test_a_huge_array_is_refused_at_its_header(self):
        """An array of 400 million elements announced: refused as the
        header is read (hiredis 0.14 would allocate 3.2 GB for it and
        wait for the elements), not at the deadline."""
        d = "array.example"
        self.world.add(d)
        r, took, _ = self.hostile(Garbage(b"*400000000\r\n"), d)
        self.assertRegex(r["cache_error"]["message"],
                         "more than 8192 elements|out of range")
        self.assertNotIn("no answer within", r["cache_error"]["message"])

    def test_a_reply_of_many_arrays_is_refused(self):
        """Arrays of at most 4096 elements each, many of them in one
        reply: refused by a cap on the reply's elements, its arrays'
        together.  Nested a few bytes apart, hiredis 1.2 (Debian 13)
        follows them down without end: 1 MiB of "*4096\\r\\n" cost 36 s
        and 4 GB, 1 MiB of "*1\\r\\n" a stack overflow when the reply
        was freed (0.14 stops at a depth of 7, so siblings here)."""
        d = "arrays.example"
        self.world.add(d)
        leaves = b"*4096\r\n" + b":1\r\n" * 4096
        r, took, rss = self.hostile(Garbage(b"*3\r\n" + leaves * 3), d)
        self.assertIn("more than 8192 elements",
                      r["cache_error"]["message"])
        self.assertLess(took, 2.5, r)

    def test_endless_push_frames_cost_one_deadline(self):
        """RESP3 push frames, forever: hiredis 1.x would take each for
        news and read on."""
        d = "push.example"
        self.world.add(d)
        r, took, rss = self.hostile(Stream(
            b"", lambda: iter(lambda: b">1\r\n+x\r\n" * 512, None)), d)
        self.assertLess(rss, 100 * 1024, r)
        self.assertLess(took, 2.5, r)

    def test_a_wrong_password_is_said_never_shown(self):
        self.redis.stop()
        self.redis = Redis(os.path.join(self.world.dir, "redis2"),
                           password="right-one")
        secret = os.path.join(self.world.dir, "fleet.secret")
        with open(secret, "w") as f:
            f.write("default s3cret-wrong-0451\n")
        d = "p.example"
        self.world.add(d)
        node = self.node("a", fleet_password_file=secret)
        r = self.lookup(node, d)
        self.assertEqual(r["verdict"], "enforce")
        self.assertIn("refused the password", r["cache_error"]["message"])
        self.assertNotIn("s3cret", json.dumps(r))
        # the right one: the policy is shared
        with open(secret, "w") as f:
            f.write("right-one\n")
        self.lookup(self.node("b", fleet_password_file=secret), d)
        self.assertIn(f"mtasts:policy:{d}", self.redis.cli("KEYS", "*"))

    def refresh(self, config, now, exit=0):
        p = subprocess.run([MTASTS, "refresh", "--config", config, "--json"],
                           capture_output=True, timeout=120,
                           env=dict(os.environ, MTASTS_TEST_NOW=str(now)))
        self.assertEqual(p.returncode, exit, p.stderr.decode())
        return json.loads(p.stdout)

    def policy_id(self, config, domain, now):
        p = subprocess.run([MTASTS, "cache", "show", domain, "--config",
                            config, "--json"], capture_output=True,
                           env=dict(os.environ, MTASTS_TEST_NOW=str(now)))
        return json.loads(p.stdout)["policy"]["id"]

    def test_the_refresh_is_shared_by_the_fleet(self):
        """RFC 8461 §5.1's refresh done once per fleet: each due policy
        is fetched by one node per period, the others copy its answer;
        two nodes refreshing at once fetch each policy once."""
        domains = [f"r{i}.example" for i in range(6)]
        for d in domains:
            self.world.add(d, site={"delay": 0.3})
        a, b, c = (self.node(n) for n in ("a", "b", "c"))
        for n in (a, b, c):
            for d in domains:
                self.lookup(n, d)
        self.assertEqual([self.world.fetches(d) for d in domains], [1] * 6)
        # half a day on, every policy is due, with a new id to fetch
        for d in domains:
            self.world.zone.remove("_mta-sts." + d, "TXT")
            self.world.zone.add("_mta-sts." + d, "TXT", "v=STSv1; id=2")
        now = int(time.time()) + 43200
        r = self.refresh(a, now)
        self.assertEqual((r["refreshed"], r["from_fleet"]), (6, 0))
        r = self.refresh(b, now + 60)
        self.assertEqual((r["refreshed"], r["from_fleet"]), (0, 6))
        self.assertEqual([self.world.fetches(d) for d in domains], [2] * 6)
        self.assertEqual(self.policy_id(b, domains[0], now + 60), "2")
        # a day on, b and c at once: one fetch per policy between them
        for d in domains:
            self.world.zone.remove("_mta-sts." + d, "TXT")
            self.world.zone.add("_mta-sts." + d, "TXT", "v=STSv1; id=3")
        now += 43200
        procs = [subprocess.Popen([MTASTS, "refresh", "--config", n,
                                   "--json"], stdout=subprocess.PIPE,
                                  env=dict(os.environ,
                                           MTASTS_TEST_NOW=str(now)))
                 for n in (b, c)]
        out = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
        self.assertEqual([self.world.fetches(d) for d in domains], [3] * 6)
        self.assertEqual(sum(r["refreshed"] for r in out), 6)
        self.assertEqual(sum(r["from_fleet"] for r in out), 6)
        for n in (b, c):
            self.assertEqual(self.policy_id(n, domains[-1], now), "3")
        # Redis gone: a node refreshes alone, as a host without a fleet
        self.redis.stop()
        for d in domains:
            self.world.zone.remove("_mta-sts." + d, "TXT")
            self.world.zone.add("_mta-sts." + d, "TXT", "v=STSv1; id=4")
        r = self.refresh(a, now + 43200, exit=1)  # 1: not shared
        self.assertEqual((r["refreshed"], r["from_fleet"]), (6, 0))
        self.assertEqual(self.policy_id(a, domains[0], now + 43200), "4")

    def test_a_lapsed_claim_is_taken_over_and_let_go_of(self):
        """A peer that claimed a domain's refresh and died (its claim
        lapses) or let go without an answer: the node waiting for it
        claims it, refreshes it at once rather than after a whole
        discovery's wait, and lets go of that claim (held on, it would
        make every other node wait out a discovery's time too)."""
        d = "claimed.example"
        self.world.add(d)
        a = self.node("a")
        self.lookup(a, d)
        key = "mtasts:refresh:" + d
        self.redis.cli("SET", key, "a-peer-that-died", "PX", "1000")
        start = time.monotonic()
        r = self.refresh(a, int(time.time()) + 43200)
        took = time.monotonic() - start
        self.assertEqual((r["refreshed"], r["from_fleet"]), (1, 0))
        self.assertEqual(r["status"]["renewed"], 1)  # its TXT checked
        self.assertEqual(self.redis.cli("EXISTS", key).strip(), "0")
        # the wait for a peer is one discovery's: 2 * 2 + 2 + 3 + 1 s
        self.assertLess(took, 6, "waited out the peer's whole time")

    def test_the_example_acl_is_enough(self):
        """The ACL user the docs give (module/fleet-redis.conf.example):
        every command a node sends passes, and nothing outside its
        prefix."""
        example = os.path.join(os.path.dirname(__file__), "..", "..",
                               "module", "fleet-redis.conf.example")
        conf = os.path.join(self.world.dir, "mtasts-fleet.conf")
        with open(example) as f, open(conf, "w") as out:
            out.write(f.read().replace(">CHANGE-ME", ">node-pw"))
        self.redis.stop()
        self.redis = Redis(os.path.join(self.world.dir, "acl"),
                           args=("--include", conf))
        secret = os.path.join(self.world.dir, "fleet.secret")
        with open(secret, "w") as f:
            f.write("mtasts node-pw\n")
        a, b = (self.node(n, fleet_password_file=secret) for n in "ab")
        d = "acl.example"
        self.world.add(d)
        out = [self.lookup(a, d)]
        self.strip(d)
        out.append(self.lookup(b, d))  # copied from the fleet
        self.assertEqual([r["verdict"] for r in out], ["enforce"] * 2, out)
        self.assertEqual(self.world.fetches(d), 1)
        self.world.add(d)
        r = self.refresh(a, int(time.time()) + 43200)  # claim, unclaim
        self.assertEqual(r["refreshed"], 1)
        r = self.refresh(b, int(time.time()) + 43260)
        self.assertEqual(r["from_fleet"], 1)
        p = subprocess.run([MTASTS, "cache", "fleet", "--config", a,
                            "--json"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)  # SCAN, HMGET
        self.assertEqual([e["domain"] for e in
                          json.loads(p.stdout)["domains"]], [d])
        p = subprocess.run([MTASTS, "cache", "purge", d, "--config", a],
                           capture_output=True, text=True)  # DEL
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotIn("mtasts:policy:" + d, self.redis.cli(
            "--user", "mtasts", "--pass", "node-pw", "--no-auth-warning",
            "KEYS", "mtasts:*"))
        for r in out:
            self.assertNotIn("cache_error", r)
        # and the user reaches nothing else
        p = subprocess.run([REDIS_CLI, "-s", self.redis.socket, "--user",
                            "mtasts", "--pass", "node-pw",
                            "--no-auth-warning", "SET", "other:x", "1"],
                           capture_output=True, text=True)
        self.assertIn("NOPERM", p.stdout + p.stderr)


if __name__ == "__main__":
    unittest.main()
