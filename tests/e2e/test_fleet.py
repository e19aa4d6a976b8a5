"""End to end: a fleet of real MTAs sharing one Redis (issue 26).  Exim
nodes (Debian's exim4-daemon-heavy loading mtasts_exim.so, each with its
own configuration, local cache, spool and log, side by side in mount
namespaces of their own) and an OpenSMTPD node with filter-mtasts, one
real redis-server on 127.0.0.1, in private network and mount namespaces
with the loopback world's DNS, policy hosts and SMTP sinks.

What every sink received and whether over TLS, whether the message was
delivered or deferred (deferred is queued, never bounced), and the line
each node logs: RFC 8461 §5 across the fleet, one policy fetch for a
fleet, and the faults of Redis under deliveries - down, restarted empty,
full, answering garbage, a wrong password, a Sentinel failover."""
import concurrent.futures
import os
import re
import subprocess
import time
import unittest

import exim
import netns
import opensmtpd
import redis_world

READY = exim.available() and redis_world.available()
if READY:
    netns.enter(addrconfig=True)  # addrconfig: OpenSMTPD's resolver

from exim import Exim, minimal_config  # noqa: E402
from https_server import Site  # noqa: E402
from mail_world import GOOD, PLAIN, PLAIN2, MailWorld  # noqa: E402
from redis_world import Garbage, Redis, Sentinel, free_port  # noqa: E402
from redis_world import wait_for  # noqa: E402
from world import policy, with_settings  # noqa: E402

SO = os.environ.get("MTASTS_EXIM_SO")
EXIM_CONF = os.environ.get("MTASTS_EXIM_CONF")
FILTER = os.environ.get("MTASTS_FILTER")
SMTPD_CONF = os.environ.get("MTASTS_SMTPD_CONF", "")
REDIS_PORT = 6379  # this network namespace's own loopback
# a cleartext MX an attacker adds once the TXT record is gone
EVIL = "mx.evil.example"
# the faults of Redis, each run with domains of its own
FAULTS = ("down", "empty", "full", "lru", "garbage", "silent",
          "password")
DOMAINS = {"strip.example": ("enforce", GOOD),
           "failover.example": ("enforce", GOOD),
           "cold.example": ("enforce", GOOD),
           "smtpd-strip.example": ("enforce", GOOD),
           "smtpd-down.example": ("enforce", GOOD)}
SMTPD_DOMAINS = ("smtpd-strip.example", "smtpd-down.example")
for _f in FAULTS:
    # known: learned before the fault, then stripped; new: under
    # enforce, first seen during the fault; plain: no policy at all
    DOMAINS.update({f"known-{_f}.example": ("enforce", GOOD),
                    f"new-{_f}.example": ("enforce", GOOD),
                    f"plain-{_f}.example": (None, PLAIN2)})


def strip(world, domain):
    """The TXT record gone, the policy host answering 404, a rogue
    cleartext MX first in DNS."""
    zone, sites = world.zone, world.https.sites
    zone.remove("_mta-sts." + domain, "TXT")
    host = "mta-sts." + domain
    sites[host] = Site(status=404, body="gone", cert=sites[host].cert)
    zone.add(domain, "MX", (5, EVIL))


class Node:
    """One Exim of the fleet: its own mtasts.conf and local cache, its
    own Exim configuration, spool and log."""

    def __init__(self, mail, name, fleet, **settings):
        w = mail.world
        self.name = name
        self.dir = os.path.join(w.dir, "nodes", name)
        os.makedirs(self.dir)
        self.config = os.path.join(self.dir, "mtasts.conf")
        self.cache_dir = os.path.join(self.dir, "cache")
        self.world = w
        self.settings(fleet, **settings)
        self.exim = Exim(os.path.join(self.dir, "exim"), minimal_config(
            EXIM_CONF, SO, self.config, w.ca.cert_file), private=True)

    def settings(self, fleet, **settings):
        """The world's settings, this node's cache, fleet (a URL, or
        None: a host alone) and settings."""
        with open(self.world.config) as f:
            text = f.read()
        lines = [f"cache_dir = {self.cache_dir}"]
        if fleet:
            lines.append(f"fleet = {fleet}")
        lines += [f"{k} = {v}" for k, v in settings.items()]
        with open(self.config, "w") as f:
            f.write(with_settings(text, "\n".join(lines)))
        os.chmod(self.config, 0o644)

    def send(self, domain):
        """(message id, its log lines) of a message to bob@domain."""
        msgid = self.exim.send("bob@" + domain)
        return msgid, self.exim.mainlog(msgid)


@unittest.skipUnless(READY and SO, "needs root, the unpacked Exim and "
                     "redis-server of tools/deps, and mtasts_exim.so")
class EximFleet(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mail = MailWorld(DOMAINS, extra_config="txt_recheck = 0\n")
        cls.world = cls.mail.world
        cls.world.zone.add(EVIL, "A", PLAIN)
        cls.world.add_site("cold.example", policy(
            "enforce", mx=("mx.cold.example",)))
        # slow enough that the three nodes meet while it is fetched
        cls.world.https.sites["mta-sts.cold.example"].delay = 1.0

    @classmethod
    def tearDownClass(cls):
        cls.mail.stop()

    def setUp(self):
        self.redis = Redis(os.path.join(self.world.dir, "redis",
                                        self.id().split(".")[-1]),
                           port=REDIS_PORT)

    def tearDown(self):
        self.redis.stop()

    def node(self, name, fleet=True, **settings):
        name = f"{self._testMethodName}-{name}"
        return Node(self.mail, name, self.redis.url if fleet is True
                    else fleet, **settings)

    # --- what a delivery did -------------------------------------------

    def assert_delivered_tls(self, node, domain, times=1, others=None):
        """Delivered under enforce to the domain's own MX, over verified
        TLS; every other sink got nothing new (times: the messages the
        good MX holds for domain by now; others: what the other sinks
        held for it before)."""
        msgid, log = node.send(domain)
        self.assertIn(" => bob@", log)
        self.assertIn(" Completed", log)
        self.assertIn("R=mtasts_enforce T=mtasts_enforce_smtp", log)
        self.assertIn(f"H=mx.{domain} ", log)
        self.assertEqual(self.mail.everywhere(domain),
                         {**(others or {}), GOOD: [True] * times})
        return log

    def assert_deferred_nowhere(self, node, domain, before=None):
        """Deferred (queued, not bounced), and no sink got anything new
        (before: what they held for domain until now)."""
        msgid, log = node.send(domain)
        self.assertIsNotNone(msgid)
        self.assertIn(" == bob@", log)
        self.assertNotIn(" => ", log)
        self.assertNotIn(" ** ", log)
        self.assertIn(msgid, node.exim.queue())
        self.assertEqual(self.mail.everywhere(domain), before or {})
        return log

    def strip(self, domain):
        strip(self.world, domain)

    def assert_one_fleet_line(self, log, says):
        """One line of the delivery's log says why the fleet did not help
        (whichever of the router's and transport's processes said it)."""
        lines = [line for line in log.splitlines() if "fleet" in line]
        self.assertTrue(lines, log)
        self.assertTrue(all(re.search(says, line) for line in lines), log)
        self.assertEqual(len(lines), 1, log)

    # --- §5 across the fleet -------------------------------------------

    def test_a_node_enforces_the_policy_its_peer_learned(self):
        """Node A learns the policy; then the TXT record goes, the policy
        host answers 404 and a cleartext MX comes first.  Node B, which
        never saw the domain, delivers to the policy's MX only, over
        TLS; a node without the fleet delivers in cleartext to the
        attacker's MX (what RFC 8461 lets a host alone do)."""
        d = "strip.example"
        a, b, alone = self.node("a"), self.node("b"), self.node(
            "alone", fleet=None)
        self.assert_delivered_tls(a, d)
        self.strip(d)
        self.assert_delivered_tls(b, d, times=2)
        self.assertEqual(self.world.fetches(d), 1)
        msgid, log = alone.send(d)
        self.assertIn("R=dnslookup", log)
        self.assertIn(f"H={EVIL} ", log)
        self.assertEqual(self.mail.everywhere(d),
                         {GOOD: [True, True], PLAIN: [False]})
        # B keeps it in its own cache: with Redis gone, still enforce
        self.redis.stop()
        self.assert_delivered_tls(b, d, times=3, others={PLAIN: [False]})

    def test_three_nodes_missing_one_domain_make_one_fetch(self):
        d = "cold.example"
        nodes = [self.node(n) for n in ("a", "b", "c")]
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            logs = list(pool.map(lambda n: n.send(d)[1], nodes))
        for log in logs:
            self.assertIn("R=mtasts_enforce T=mtasts_enforce_smtp", log)
            self.assertIn(" Completed", log)
        self.assertEqual(self.mail.everywhere(d), {GOOD: [True] * 3})
        self.assertEqual(self.world.fetches(d), 1)

    # --- the faults of Redis, under deliveries -------------------------

    def fault(self, name, apply, strict_defers_stripped, line):
        """Node A learns known-NAME.example with the fleet well; its TXT
        record then goes, the policy host answers 404 and a cleartext MX
        comes first; apply(A, B, S) then breaks the fleet.  A (the domain
        in its local cache) changes nothing; B (default) decides from the
        network: new-NAME.example (enforce) over TLS to its MX only,
        plain-NAME.example (no policy) as without MTA-STS; S
        (fleet_strict) defers plain-NAME.example, queued, and the
        stripped domain when strict_defers_stripped (the fleet could not
        be asked).  line: what the one line about the fleet says."""
        known, new, plain = (f"{k}-{name}.example"
                             for k in ("known", "new", "plain"))
        a, b = self.node(f"{name}-a"), self.node(f"{name}-b")
        s = self.node(f"{name}-s", fleet_strict="yes")
        self.assert_delivered_tls(a, known)
        self.strip(known)
        self.world.zone.add(new, "MX", (5, EVIL))
        apply(a, b, s)
        self.assert_delivered_tls(a, known, times=2)
        log = self.assert_delivered_tls(b, new)
        if line:
            self.assert_one_fleet_line(log, line)
        self.assert_delivered_tls(s, new, times=2)
        msgid, log = b.send(plain)
        self.assertIn(" Completed", log)
        self.assertEqual(self.mail.everywhere(plain), {PLAIN2: [False]})
        if line:
            self.assert_one_fleet_line(log, line)
        if strict_defers_stripped:
            log = self.assert_deferred_nowhere(s, plain,
                                               {PLAIN2: [False]})
            self.assertIn("fleet_strict", log)
            log = self.assert_deferred_nowhere(s, known, {GOOD: [True] * 2})
            self.assertIn("fleet_strict", log)
        for n in (a, b, s):
            self.assertEqual(n.exim.paniclog(), "")
            self.assertNotIn("signal", n.exim.mainlog())
            if not line:  # the fleet answered every command
                self.assertNotIn("fleet", n.exim.mainlog())

    def test_fault_redis_down(self):
        self.fault("down", lambda *nodes: self.redis.stop(), True,
                   r"not shared with the fleet: fleet redis://127\.0\.0\.1:"
                   r"6379: cannot connect: Connection refused")

    def test_fault_redis_restarted_empty(self):
        """Nothing saved: the fleet forgot every policy.  A node's own
        cache still holds; a new domain is shared again; a node that
        never saw the stripped domain cannot be saved by the fleet now,
        strict or not (the fleet answers: it knows nothing)."""
        self.fault("empty", lambda *nodes: self.redis.restart_empty(),
                   False, None)
        self.assertIn("mtasts:policy:new-empty.example",
                      self.redis.cli("KEYS", "*"))
        # A's refresh (its TXT query said nothing) shared its policy
        # again: a node that never saw the stripped domain enforces it
        c = self.node("empty-c")
        self.assert_delivered_tls(c, "known-empty.example", times=3)

    def test_fault_redis_full(self):
        """maxmemory reached, noeviction: every write refused (OOM),
        reads answered: a node that never saw the stripped domain still
        enforces it from the fleet; what a node learns is kept locally
        and said not shared."""
        def full(*nodes):
            self.redis.cli("CONFIG", "SET", "maxmemory-policy", "noeviction")
            self.redis.cli("CONFIG", "SET", "maxmemory", "1")
        self.fault("full", full, False, r"not shared with the fleet.*OOM")
        c = self.node("full-c")
        self.assert_delivered_tls(c, "known-full.example", times=3)

    def test_fault_redis_evicting(self):
        """maxmemory reached, allkeys-lru: writes evict other keys (the
        fleet's own policies among them, at random)."""
        def evicting(*nodes):
            used = self.redis.stats()["used_memory"]
            self.redis.cli("CONFIG", "SET", "maxmemory-policy",
                           "allkeys-lru")
            self.redis.cli("CONFIG", "SET", "maxmemory",
                           str(used + 200 * 1024))
            self.redis.cli("EVAL", "for i = 1, 2000 do redis.call('SET', "
                           "'junk:' .. i, string.rep('x', 1000)) end", "0")
        self.fault("lru", evicting, False, None)
        self.assertGreater(self.redis.stats()["evicted_keys"], 0)
        # written after the eviction: shared
        self.assertIn("mtasts:policy:new-lru.example",
                      self.redis.cli("KEYS", "mtasts:*"))

    def fleet_elsewhere(self, server, **settings):
        """What apply() does for a fleet at server instead of Redis: each
        node's fleet URL names it (settings too; S stays strict)."""
        self.addCleanup(server.stop)
        url = f"redis://127.0.0.1:{server.port}"

        def elsewhere(a, b, s):
            for n in (a, b):
                n.settings(url, **settings)
            s.settings(url, fleet_strict="yes", **settings)
        return elsewhere, url

    def test_fault_redis_answers_garbage(self):
        apply, url = self.fleet_elsewhere(
            Garbage(b"HTTP/1.1 400 Bad Request\r\n\r\n"))
        self.fault("garbage", apply, True,
                   rf"not shared with the fleet: fleet {url}: HMGET: "
                   "Protocol error")

    def test_fault_redis_silent(self):
        """A Redis that takes every connection and never answers: one
        fleet_timeout a delivery's process, then decided without it."""
        apply, url = self.fleet_elsewhere(Garbage(silent=True),
                                          fleet_timeout="0.5")
        start = time.monotonic()
        self.fault("silent", apply, True,
                   rf"not shared with the fleet: fleet {url}: "
                   "HMGET: no answer within 500 ms")
        self.assertLess(time.monotonic() - start, 30)

    def test_fault_wrong_password(self):
        secret = os.path.join(self.world.dir, "fleet.secret.wrong")
        with open(secret, "w") as f:
            f.write("default s3cret-wrong-0451\n")

        def password(a, b, s):
            self.redis.cli("CONFIG", "SET", "requirepass", "right-one")
            self.redis.password = "right-one"
            for n in (a, b):
                n.settings(self.redis.url, fleet_password_file=secret)
            s.settings(self.redis.url, fleet_password_file=secret,
                       fleet_strict="yes")
        self.fault("password", password, True, "refused the password")
        for n in os.listdir(os.path.join(self.world.dir, "nodes")):
            log = os.path.join(self.world.dir, "nodes", n, "exim", "log",
                               "mainlog")
            if os.path.exists(log):
                with open(log) as f:
                    self.assertNotIn("s3cret", f.read())


    def test_a_sentinel_failover_under_deliveries(self):
        """The fleet through Redis Sentinel (a master, its replica, two
        sentinels): node A learns the policy; the TXT record goes, the
        policy host answers 404, a cleartext MX comes first; the master
        is killed.  During the failover A enforces from its cache and a
        fleet_strict node that never saw the domain defers, queued; once
        the replica is promoted, node C, which never saw it either,
        delivers to the policy's MX over TLS, and the strict node's
        message follows it there."""
        d = "failover.example"
        self.redis.stop()  # this test's Redis: a master and its replica
        base = os.path.join(self.world.dir, "failover")
        master = Redis(os.path.join(base, "master"), port=free_port())
        replica = Redis(os.path.join(base, "replica"), port=free_port(),
                        replicaof=("127.0.0.1", master.port))
        sentinels = [Sentinel(os.path.join(base, f"s{i}"), master)
                     for i in (1, 2)]
        self.addCleanup(lambda: [x.stop() for x in (master, replica,
                                                    *sentinels)])
        url = ("redis-sentinel://" + ",".join(
            f"127.0.0.1:{x.port}" for x in sentinels) + "/mymaster")
        a, c = self.node("a", fleet=url), self.node("c", fleet=url)
        strict = self.node("s", fleet=url, fleet_strict="yes")
        self.assert_delivered_tls(a, d)
        wait_for(lambda: replica.cli("EXISTS", f"mtasts:policy:{d}")
                 .strip() == "1", "the replica never had the policy")
        self.strip(d)
        master.stop()
        # the failover under way (the sentinels wait 3 s before it)
        self.assert_delivered_tls(a, d, times=2)
        msgid, log = strict.send(d)
        self.assertIn(" == bob@", log)
        self.assertIn("fleet_strict", log)
        self.assertEqual(self.mail.everywhere(d), {GOOD: [True, True]})
        wait_for(lambda: str(replica.port) in sentinels[0].cli(
            "SENTINEL", "get-master-addr-by-name", "mymaster"),
            "the replica was not promoted", 60)
        self.assert_delivered_tls(c, d, times=3)
        self.assertEqual(self.world.fetches(d), 1)
        strict.exim.forget_retries()
        subprocess.run(strict.exim.command("-M", msgid), check=True,
                       capture_output=True, timeout=120)
        log = strict.exim.mainlog(msgid)
        self.assertIn(f"H=mx.{d} ", log)
        self.assertIn(" Completed", log)
        self.assertEqual(self.mail.everywhere(d), {GOOD: [True] * 4})


@unittest.skipUnless(READY and SO and FILTER and opensmtpd.available(),
                     "needs root, the unpacked Exim, OpenSMTPD and "
                     "redis-server of tools/deps, mtasts_exim.so and "
                     "filter-mtasts")
class OpenSmtpdNode(unittest.TestCase):
    """An OpenSMTPD node (smtpd.conf as shipped, filter-mtasts) in the
    same fleet as an Exim node."""

    @classmethod
    def setUpClass(cls):
        cls.mail = MailWorld({d: DOMAINS[d] for d in SMTPD_DOMAINS},
                             extra_config="txt_recheck = 0\n")
        w = cls.world = cls.mail.world
        w.zone.add(EVIL, "A", PLAIN)
        cls.redis = Redis(os.path.join(w.dir, "redis"), port=REDIS_PORT)
        # the filter's cache where the package keeps it (opensmtpd.py)
        conf = os.path.join(w.dir, "smtpd-mtasts.conf")
        with open(w.config) as f:
            text = f.read()
        with open(conf, "w") as f:
            f.write(with_settings(text, "cache_dir = /var/lib/mtasts/cache\n"
                                  "cache_group = mtasts\n"
                                  f"fleet = {cls.redis.url}\n"))
        cls.smtpd = opensmtpd.Smtpd(os.path.join(w.dir, "smtpd"),
                                    os.path.abspath(SMTPD_CONF), FILTER,
                                    conf, w.ca.cert_file,
                                    os.environ["MTASTS"])

    @classmethod
    def tearDownClass(cls):
        cls.smtpd.stop()
        cls.redis.stop()
        cls.mail.stop()

    def delivered_routed(self, d, messages):
        """RCPT for d is taken once smtpd has the route of its policy
        (451 until then), and the policy's MX gets it over TLS: every
        sink then holds what messages says."""
        deadline = time.time() + 15
        while True:
            code, text = opensmtpd.rcpt(d)
            if code == 250 or time.time() > deadline:
                break
            self.assertEqual(code, 451, text)
            self.assertIn("under its enforce policy", text)
            time.sleep(0.2)
        self.assertEqual(code, 250, text)
        with open(opensmtpd.TABLE + ".routes") as f:
            self.assertIn(f"{d} smtp+tls://mx.{d}:25\n", f.read())
        deadline = time.time() + 15
        while self.mail.everywhere(d) != messages and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        self.assertEqual(self.mail.everywhere(d), messages,
                         self.smtpd.logtext()[-2000:])

    def test_enforces_what_an_exim_node_learned(self):
        d = "smtpd-strip.example"
        a = Node(self.mail, "a", self.redis.url)
        msgid, log = a.send(d)
        self.assertIn("R=mtasts_enforce T=mtasts_enforce_smtp", log)
        self.assertEqual(self.mail.everywhere(d), {GOOD: [True]})
        strip(self.world, d)
        self.delivered_routed(d, {GOOD: [True, True]})
        self.assertEqual(self.world.fetches(d), 1)

    def test_redis_down_said_once_policy_from_the_network(self):
        d = "smtpd-down.example"
        self.redis.stop()
        self.addCleanup(self.redis.start)
        self.world.zone.add(d, "MX", (5, EVIL))
        self.delivered_routed(d, {GOOD: [True]})
        lines = [line for line in self.smtpd.logtext().splitlines()
                 if d in line and "fleet" in line]
        self.assertEqual(len(lines), 1, self.smtpd.logtext()[-2000:])
        self.assertRegex(lines[0], rf"{d}: enforce, policy 20261122 "
                         r"\(network\); cache: kept here, not shared with "
                         r"the fleet: .*cannot connect")


if __name__ == "__main__":
    unittest.main()
