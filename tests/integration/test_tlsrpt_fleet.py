"""One TLS report per organization (issue 26): three nodes - three
configurations, three spools, three local caches - fold their sessions
into one Redis (a real redis-server of the test's own), and one report
per policy domain and day, with their sum, leaves the fleet, sent by one
node even when send runs on two at once; a fold cut short is redone from
the offset it committed, never counted twice; Redis down at fold time
loses nothing; tlsrpt_backend = lmdb keeps a node's counts its own.
Against the loopback world and the SMTP sink the other TLS-RPT tests
send to (tlsrpt_relay on a port of loopback)."""
import email
import email.policy
import gzip
import json
import os
import signal
import socket
import subprocess
import time
import unittest
import zlib

from redis_world import REDIS_CLI, REDIS_SERVER, UNPACKED, Redis
from smtp_sink import Sink
from world import World, policy, with_settings

MTASTS = os.environ["MTASTS"]
TODAY = time.strftime("%Y-%m-%d", time.gmtime())
YESTERDAY = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86400))
OLDER = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 3 * 86400))
GOOD = "S1 good.example mx.good.example 192.0.2.25 192.0.2.1 1 1 -\n"
PLAIN = "S1 good.example mx.good.example 192.0.2.25 192.0.2.2 0 0 -\n"
WRONG = ("S1 good.example mx.good.example 192.0.2.25 192.0.2.3 1 0 "
         "certificate-host-mismatch\n")
NOPOLICY = "S1 nopolicy.example mx.nopolicy.example - - 1 0 -\n"
RUA = "mailto:tls@good.example"
ORG = "org.example"  # fleet_name
PREFIX = ORG + ":tlsrpt:"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def report_of(mail):
    """The JSON report a received mail carries."""
    msg = email.message_from_bytes(mail.data, policy=email.policy.default)
    [part] = [p for p in msg.iter_parts()
              if p.get_content_type() == "application/tlsrpt+gzip"]
    return json.loads(gzip.decompress(part.get_content()))


class Node:
    """One mtasts host of the fleet: its own configuration, cache and
    spool, the world's DNS and policy hosts, the fleet's Redis."""

    def __init__(self, world, redis, name, relay_port, extra=""):
        self.name = name
        self.dir = os.path.join(world.dir, name)
        self.spool_dir = os.path.join(self.dir, "spool")
        os.makedirs(self.spool_dir)
        self.config = os.path.join(self.dir, "mtasts.conf")
        with open(world.config) as f:
            text = f.read()
        with open(self.config, "w") as f:
            f.write(with_settings(text, (
                f"cache_dir = {self.dir}/cache\ntlsrpt = yes\n"
                f"tlsrpt_submitter = {name}.sender.example\n"
                f"tlsrpt_spool = {self.spool_dir}\n"
                f"tlsrpt_relay = 127.0.0.1:{relay_port}\n"
                f"fleet = redis+unix://{redis.socket}\n"
                f"fleet_name = {ORG}\nfleet_node = {name}\n" + extra)))

    def spool(self, day, *lines):
        with open(self.path(day), "ab") as f:
            for line in lines:
                f.write(line.encode())

    def path(self, day):
        return os.path.join(self.spool_dir, "sessions-" + day)

    def start(self, *args):
        return subprocess.Popen(
            [MTASTS, "tlsrpt", *args, "--config", self.config],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def run(self, *args):
        p = self.start(*args)
        out, err = p.communicate(timeout=120)
        return p.returncode, out, err

    def show(self, day=TODAY):
        rc, out, err = self.run("show", "--json", "--date", day)
        if rc != 0:
            raise AssertionError(f"{self.name}: show: {rc} {err}")
        return json.loads(out)["domains"]


@unittest.skipUnless(REDIS_SERVER and REDIS_CLI,
                     "no redis-server/redis-cli: tools/deps unpacks Debian's "
                     "into " + UNPACKED)
class TlsRptFleet(unittest.TestCase):
    def setUp(self):
        self.world = World(scenarios={})
        self.addCleanup(self.world.stop)
        self.world.add("good.example", site=dict(body=policy(
            "enforce", mx=("mx.good.example",))))
        self.world.add("nopolicy.example", txt=None, site=None)
        self.world.zone.add("_smtp._tls.good.example", "TXT",
                            f"v=TLSRPTv1; rua={RUA}")
        self.redis = self.start_redis()
        self.addCleanup(lambda: self.redis.stop())
        self.port = free_port()
        self.nodes = [Node(self.world, self.redis, f"n{i}", self.port,
                           self.node_settings)
                      for i in (1, 2, 3)]

    node_settings = ""  # more of each node's settings

    def start_redis(self):
        """The fleet's Redis (again, empty, after a test stopped it)."""
        return Redis(os.path.join(self.world.dir, "redis"))

    def sink(self, **kw):
        sink = Sink("127.0.0.1", port=self.port, **kw)
        self.addCleanup(sink.stop)
        return sink

    def tlsrpt_keys(self):
        """Every key of Redis but the policy cache's."""
        return [k for k in self.redis.cli("--scan").split()
                if not k.startswith(ORG + ":policy:")]

    def reports(self, out):
        return [(r["domain"], r["rua"], r["result"])
                for r in json.loads(out)["reports"]]

    def test_three_nodes_one_report_with_their_sum(self):
        """Each node folds its own spool; the fleet's counts are their
        sum, and one report per policy domain leaves, named for the
        organization, sent once though send runs on two nodes at once
        (the relay slow enough that both run together)."""
        n1, n2, n3 = self.nodes
        n1.spool(YESTERDAY, GOOD, GOOD)
        n2.spool(YESTERDAY, GOOD, PLAIN)
        n3.spool(YESTERDAY, WRONG, NOPOLICY)
        for n in self.nodes:
            n.show(YESTERDAY)
        days = n1.show(YESTERDAY)
        [sts] = days["good.example"]
        self.assertEqual((sts["success"], sts["failure"]), (3, 2))
        self.assertEqual(
            sorted((d["result"], d["sending_ip"], d["count"])
                   for d in sts["details"]),
            [("certificate-host-mismatch", "192.0.2.3", 1),
             ("starttls-not-supported", "192.0.2.2", 1)])
        self.assertEqual(days["nopolicy.example"][0]["success"], 1)
        sink = self.sink(data_delay=2)
        a, b = n2.start("send", "--json"), n3.start("send", "--json")
        outs = [p.communicate(timeout=120) for p in (a, b)]
        for p, (out, err) in zip((a, b), outs):
            self.assertEqual(p.returncode, 0, err + out)
        results = sorted(r for out, _ in outs for r in self.reports(out)
                         if r[0] == "good.example")
        self.assertEqual(results, [("good.example", RUA, "claimed"),
                                   ("good.example", RUA, "sent")])
        # what mtasts metrics says of each node's send
        for n, (out, _) in zip((n2, n3), outs):
            got = [r[2] for r in self.reports(out)
                   if r[0] == "good.example"][0]
            p = subprocess.run([MTASTS, "metrics", "--config", n.config],
                               capture_output=True, text=True)
            self.assertIn('mtasts_tlsrpt_send_last_reports{result="%s"} 1'
                          % got, p.stdout)
        [got] = sink.received()
        report = report_of(got)
        self.assertEqual(report["organization-name"], ORG)
        self.assertEqual(report["policies"][0]["summary"], {
            "total-successful-session-count": 3,
            "total-failure-session-count": 2})
        # sent: no node sends it again
        rc, out, err = n1.run("send", "--json")
        self.assertEqual(rc, 0, err)
        self.assertNotIn("sent", [r[2] for r in self.reports(out)])
        self.assertEqual(len(sink.received()), 1)
        # TLS-RPT's keys under the fleet's prefix (beside its
        # policies), and each expires
        keys = self.tlsrpt_keys()
        self.assertTrue(keys)
        for key in keys:
            self.assertTrue(key.startswith(PREFIX), key)
            ttl = int(self.redis.cli("TTL", key))
            self.assertTrue(0 < ttl <= 14 * 86400, (key, ttl))

    def test_a_dead_senders_claim_lets_another_send_once_it_expires(self):
        """A node that died while sending leaves its claim: another node
        does not send the report until the claim expires, then does."""
        n1 = self.nodes[0]
        n1.spool(YESTERDAY, GOOD)
        n1.show(YESTERDAY)
        sink = self.sink()
        # the claim a node that died mid-send leaves, near its expiry
        claim = (f"{PREFIX}claim:{YESTERDAY}:good.example:"
                 f"{zlib.crc32(RUA.encode()):08x}")
        self.redis.cli("SET", claim, "a-dead-node", "PX", "1500")
        rc, out, err = n1.run("send", "--json")
        self.assertEqual(rc, 0, err)
        self.assertIn(("good.example", RUA, "claimed"), self.reports(out))
        self.assertEqual(sink.received(), [])
        time.sleep(1.6)
        rc, out, err = n1.run("send", "--json")
        self.assertEqual(rc, 0, err)
        self.assertIn(("good.example", RUA, "sent"), self.reports(out))
        self.assertEqual(len(sink.received()), 1)
        # and let go of it once its state was written
        self.assertEqual(self.redis.cli("EXISTS", claim).strip(), "0")

    def test_a_days_reports_wait_for_every_node(self):
        """A node that counted lately, but not since the day ended, holds
        the day's reports back (its sessions of the day would be
        missing); once it has counted them, one report with the sum."""
        n1, n2 = self.nodes[:2]
        n1.spool(YESTERDAY, GOOD)
        n2.spool(YESTERDAY, PLAIN)
        sink = self.sink()
        # n2 last counted its spool a minute before yesterday ended
        late = int(time.time()) // 86400 * 86400 - 60
        self.redis.cli("HSET", PREFIX + "nodes", "n2", str(late))
        rc, out, err = n1.run("send", "--json")
        self.assertEqual(rc, 1, err)
        [(day, why)] = [(r["date"], r["why"])
                        for r in json.loads(out)["reports"]
                        if r["result"] == "waiting"]
        self.assertEqual(day, YESTERDAY)
        self.assertIn("fleet_node n2", why)
        self.assertEqual(sink.received(), [])
        n2.show(YESTERDAY)
        rc, out, err = n1.run("send", "--json")
        self.assertEqual(rc, 0, err)
        self.assertIn(("good.example", RUA, "sent"), self.reports(out))
        [got] = sink.received()
        report = report_of(got)
        self.assertEqual(report["policies"][0]["summary"], {
            "total-successful-session-count": 1,
            "total-failure-session-count": 1})

    def test_a_fold_cut_short_is_redone_not_counted_twice(self):
        """A fold killed after its first batch (4096 lines) counted that
        batch with its offset; the next fold goes on from there: every
        line once."""
        n1 = self.nodes[0]
        n1.spool(TODAY, *[GOOD] * 20000)
        offset = f"{PREFIX}offset:n1:{TODAY}"
        p = n1.start("show", "--json", "--date", TODAY)
        for _ in range(3000):
            if self.redis.cli("GET", offset).strip():
                break
            time.sleep(0.005)
        p.send_signal(signal.SIGKILL)
        p.communicate()
        self.assertTrue(self.redis.cli("GET", offset).strip(),
                        "the fold ended before its first batch")
        [sts] = n1.show()["good.example"]
        self.assertEqual(sts["success"], 20000)
        self.assertEqual(int(self.redis.cli("GET", offset)),
                         os.path.getsize(n1.path(TODAY)))
        [sts] = n1.show()["good.example"]
        self.assertEqual(sts["success"], 20000)

    def test_redis_down_at_fold_time_loses_nothing(self):
        """Redis down: the fold fails, saying so, and leaves the spool -
        an older day's file too, which a fold removes once counted; once
        Redis is back, their sessions are counted."""
        n1 = self.nodes[0]
        n1.spool(TODAY, GOOD, PLAIN)
        n1.spool(OLDER, GOOD, GOOD, WRONG)
        sizes = [os.path.getsize(n1.path(d)) for d in (TODAY, OLDER)]
        self.redis.stop()
        rc, out, err = n1.run("show", "--json", "--date", TODAY)
        self.assertEqual(rc, 2, out)
        self.assertIn(f"fleet redis+unix://{self.redis.socket}", err)
        self.assertEqual([os.path.getsize(n1.path(d))
                          for d in (TODAY, OLDER)], sizes)
        self.redis = self.start_redis()
        [sts] = n1.show()["good.example"]
        self.assertEqual((sts["success"], sts["failure"]), (1, 1))
        [sts] = n1.show(OLDER)["good.example"]
        self.assertEqual((sts["success"], sts["failure"]), (2, 1))
        self.assertFalse(os.path.exists(n1.path(OLDER)))

    def test_days_past_keeping_are_pruned(self):
        """send, 20 days on, deletes the days the store keeps no longer
        (14 after they end): their counts, states and their name in the
        days set (a node's offset expires on its own), and says nothing
        of a failure."""
        n1 = self.nodes[0]
        n1.spool(OLDER, GOOD, WRONG)
        n1.show(OLDER)
        self.assertTrue(any(OLDER in k for k in self.tlsrpt_keys()))
        p = subprocess.run(
            [MTASTS, "tlsrpt", "send", "--json", "--config", n1.config],
            capture_output=True, text=True, timeout=120,
            env=dict(os.environ,
                     MTASTS_TEST_NOW=str(int(time.time()) + 20 * 86400)))
        self.assertNotIn("mtasts tlsrpt:", p.stderr)
        self.assertFalse([k for k in self.tlsrpt_keys()
                          if OLDER in k and ":offset:" not in k])
        self.assertNotIn(OLDER, self.redis.cli("SMEMBERS", PREFIX + "days"))

    def test_lmdb_named_keeps_a_nodes_counts_its_own(self):
        """tlsrpt_backend = lmdb in a fleet: this node counts and reports
        alone (its submitter the organization), nothing in Redis; an
        organization named in the configuration stays its name in a
        fleet too."""
        alone = Node(self.world, self.redis, "alone", self.port,
                     "tlsrpt_backend = lmdb\n")
        named = Node(self.world, self.redis, "named", self.port,
                     "tlsrpt_organization = Named Org\n")
        alone.spool(YESTERDAY, GOOD)
        named.spool(YESTERDAY, GOOD, GOOD)
        self.assertEqual(alone.show(YESTERDAY)["good.example"][0]["success"],
                         1)
        self.assertEqual(self.tlsrpt_keys(), [])
        self.assertEqual(named.show(YESTERDAY)["good.example"][0]["success"],
                         2)
        orgs = {}
        for node in (alone, named):
            out_dir = os.path.join(node.dir, "reports")
            os.makedirs(out_dir)
            rc, out, err = node.run("send", "--dry-run", out_dir, "--json")
            self.assertEqual(rc, 0, err)
            [name] = os.listdir(out_dir)
            with gzip.open(os.path.join(out_dir, name)) as f:
                orgs[node.name] = json.load(f)["organization-name"]
        self.assertEqual(orgs, {"alone": "alone.sender.example",
                                "named": "Named Org"})


class TlsRptFleetAsItsAclUser(TlsRptFleet):
    """The same, the nodes being the Redis user the package ships
    (module/fleet-redis.conf.example, its prefix made this fleet's):
    every command that folding, sending and pruning send, and those their
    scripts run, is granted."""

    def start_redis(self):
        example = os.path.join(os.path.dirname(__file__), "..", "..",
                               "module", "fleet-redis.conf.example")
        conf = os.path.join(self.world.dir, "fleet-redis.conf")
        with open(example) as f, open(conf, "w") as out:
            out.write(f.read().replace(">CHANGE-ME", ">node-pw")
                      .replace("~mtasts:*", f"~{ORG}:*"))
        secret = os.path.join(self.world.dir, "fleet.secret")
        with open(secret, "w") as f:
            f.write("mtasts node-pw\n")
        self.node_settings = f"fleet_password_file = {secret}\n"
        return Redis(os.path.join(self.world.dir, "redis"),
                     args=("--include", conf))


if __name__ == "__main__":
    unittest.main()
