"""The fleet found through Redis Sentinel (issue 26), against Debian's
redis-server on loopback: a master, its replica and two sentinels
(redis-server --sentinel), a dead sentinel named first.  A policy one
node learned survives the master's death: once the replica is promoted
a node that never saw the domain still enforces it, and during the
failover a node decides from its own cache and the network.  Sentinels
that answer garbage cost one deadline and say why."""
import os
import signal
import time
import unittest

from world import World
from redis_world import (Garbage, Nodes, Redis, Sentinel, free_port,
                         needs_redis, wait_for)

MASTER = "mymaster"


@needs_redis
class FleetSentinel(Nodes, unittest.TestCase):
    def setUp(self):
        self.world = World(scenarios={})
        self.addCleanup(self.world.stop)
        d = self.world.dir
        self.master = Redis(os.path.join(d, "master"), port=free_port())
        self.addCleanup(self.master.stop)
        self.replica = Redis(os.path.join(d, "replica"), port=free_port(),
                             replicaof=("127.0.0.1", self.master.port))
        self.addCleanup(self.replica.stop)
        self.sentinels = []
        for i in range(2):
            s = Sentinel(os.path.join(d, f"sentinel{i}"), self.master,
                         MASTER)
            self.addCleanup(s.stop)
            self.sentinels.append(s)
        self.dead = free_port()  # asked first, refuses: the next is asked
        # a failover needs the sentinels to know the replica
        for s in self.sentinels:
            wait_for(lambda: str(self.replica.port) in s.cli(
                "SENTINEL", "replicas", MASTER), "no replica seen", 20)

    def fleet_url(self):
        ports = [self.dead] + [s.port for s in self.sentinels]
        return ("redis-sentinel://" +
                ",".join(f"127.0.0.1:{p}" for p in ports) + "/" + MASTER)

    def master_port(self):
        out = self.sentinels[1].cli(
            "SENTINEL", "get-master-addr-by-name", MASTER).split()
        return int(out[1]) if len(out) == 2 else None

    def test_a_policy_outlives_its_master(self):
        d = "failover.example"
        self.world.add(d)
        self.world.add("plain.example", txt=None, site=None)
        a, b = self.node("a"), self.node("b")
        strict = self.node("s", fleet_strict="yes")
        r = self.lookup(a, d)
        self.assertEqual((r["status"], r["verdict"]), ("found", "enforce"))
        self.assertNotIn("cache_error", r)
        key = f"mtasts:policy:{d}"
        wait_for(lambda: key in self.replica.cli("KEYS", "*"),
                 "the replica never had the policy")
        self.strip(d)
        self.master.proc.send_signal(signal.SIGKILL)
        self.master.proc.wait()
        # the failover window: the sentinels still name the dead master
        self.assertEqual(self.master_port(), self.master.port)
        start = time.monotonic()
        r = self.lookup(a, d)
        self.assertEqual(r["verdict"], "enforce", r)
        self.assertLess(time.monotonic() - start, 4)
        # a node that cannot vouch for a domain: none by default, and
        # fleet_strict defers; both say why
        r = self.lookup(self.node("c"), "plain.example")
        self.assertEqual(r["verdict"], "none")
        self.assertIn(f"redis-sentinel master {MASTER}",
                      r["cache_error"]["message"])
        r = self.lookup(strict, "plain.example")
        self.assertEqual(r["verdict"], "defer", r)
        wait_for(lambda: self.master_port() == self.replica.port,
                 "the replica was never promoted", 30)
        # B never saw the domain; its TXT record is gone, its policy host
        # says 404: the new master holds the policy A learned
        r = self.lookup(b, d)
        self.assertEqual((r["verdict"], r["policy"]["mode"]),
                         ("enforce", "enforce"), r)
        self.assertNotIn("cache_error", r)
        self.assertEqual(self.world.fetches(d), 1)

    def hostile_sentinel(self, answer, silent=False):
        """A lookup of an enforce domain through one sentinel that
        answers answer: (the lookup, its seconds, the sentinel's port)."""
        server = Garbage(answer, silent=silent)
        self.addCleanup(server.stop)
        d = f"s{server.port}.example"
        self.world.add(d)
        node = self.node(
            f"n{server.port}",
            fleet=f"redis-sentinel://127.0.0.1:{server.port}/{MASTER}",
            fleet_timeout="0.5")
        start = time.monotonic()
        r = self.lookup(node, d)
        took = time.monotonic() - start
        self.assertEqual(r["verdict"], "enforce", r)
        self.assertEqual(r["cache_error"]["code"], "io_error", r)
        return r, took, server.port

    def test_a_sentinel_answering_garbage_is_said(self):
        for answer, said in [
                (b"*2\r\n$9\r\nlocalhost\r\n$4\r\n6379\r\n",
                 "not a numeric"),
                (b"*2\r\n$9\r\n127.0.0.1\r\n$5\r\n99999\r\n",
                 "port is not a port"),
                (b"*2\r\n$9\r\n127.0.0.1\r\n:6379\r\n",
                 "port is not a port"),
                (b"*3\r\n:1\r\n:2\r\n:3\r\n", "not an address"),
                (b"$-1\r\n", f"knows no master named {MASTER}"),
                (b"-ERR unknown command\r\n", "answered ERR"),
                (b"HTTP/1.1 400 Bad\r\n\r\n", "Protocol error"),
                (None, "no answer within 500 ms")]:
            r, took, port = self.hostile_sentinel(answer or b"",
                                                  silent=answer is None)
            # which sentinel said what
            self.assertIn(f"no sentinel named the master: 127.0.0.1:{port}:",
                          r["cache_error"]["message"])
            self.assertIn(said, r["cache_error"]["message"])
            self.assertLess(took, 4, r)

    def test_a_master_that_is_no_master_is_refused(self):
        """The sentinels name the replica (a demoted master says the
        same): ROLE keeps the node off it."""
        answer = (f"*2\r\n$9\r\n127.0.0.1\r\n${len(str(self.replica.port))}"
                  f"\r\n{self.replica.port}\r\n").encode()
        r, _, _ = self.hostile_sentinel(answer)
        self.assertIn("not a master", r["cache_error"]["message"])
        self.assertNotIn("mtasts:policy:",
                         self.replica.cli("KEYS", "*"))


    def test_a_sentinel_naming_a_dead_master_is_passed_over(self):
        """A sentinel that has not heard of a failover names the old
        master: the node tries the master the next sentinel names."""
        dead = free_port()
        stale = Garbage(f"*2\r\n$9\r\n127.0.0.1\r\n${len(str(dead))}\r\n"
                        f"{dead}\r\n".encode())
        self.addCleanup(stale.stop)
        url = (f"redis-sentinel://127.0.0.1:{stale.port},"
               f"127.0.0.1:{self.sentinels[0].port}/{MASTER}")
        d = "stale.example"
        self.world.add(d)
        r = self.lookup(self.node("a", fleet=url), d)
        self.assertEqual(r["verdict"], "enforce")
        self.assertNotIn("cache_error", r)
        self.assertIn(f"mtasts:policy:{d}", self.master.cli("KEYS", "*"))

    def test_a_sentinel_with_a_password(self):
        """fleet_sentinel_password_file is the sentinels' (the master has
        none here): without it the sentinel's NOAUTH is said, a wrong one
        is said and never shown, the right one finds the master."""
        s = Sentinel(os.path.join(self.world.dir, "locked"), self.master,
                     MASTER, password="sentinel-pw")
        self.addCleanup(s.stop)
        url = f"redis-sentinel://127.0.0.1:{s.port}/{MASTER}"
        secret = os.path.join(self.world.dir, "sentinel.secret")
        d = "locked.example"
        self.world.add(d)
        r = self.lookup(self.node("a", fleet=url), d)
        self.assertEqual(r["verdict"], "enforce")
        self.assertIn("NOAUTH", r["cache_error"]["message"])
        with open(secret, "w") as f:
            f.write("s3cret-wrong-0451\n")
        r = self.lookup(self.node("b", fleet=url,
                                  fleet_sentinel_password_file=secret), d)
        self.assertIn("refused the password of fleet_sentinel_password_file",
                      r["cache_error"]["message"])
        self.assertNotIn("s3cret", r["cache_error"]["message"])
        with open(secret, "w") as f:
            f.write("sentinel-pw\n")
        r = self.lookup(self.node("c", fleet=url,
                                  fleet_sentinel_password_file=secret), d)
        self.assertNotIn("cache_error", r)
        self.assertIn(f"mtasts:policy:{d}", self.master.cli("KEYS", "*"))

if __name__ == "__main__":
    unittest.main()
