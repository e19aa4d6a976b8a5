"""The shared cache against the real loopback world and real LMDB: the
RFC 8461 §5 timeline (with a clock the test moves), negative caching and
backoff, many processes and one fetch, writers killed at random, overrides,
permissions, a damaged cache, mtasts cache and mtasts refresh."""
import json
import os
import random
import signal
import stat
import subprocess
import tempfile
import time
import unittest

from world import World, policy
from https_server import Site

MTASTS = os.environ["MTASTS"]
T0 = 1_900_000_000  # the test clock's start (MTASTS_TEST_NOW)


class CacheWorld(unittest.TestCase):
    """A world of its own for each test, so caches never mix."""
    extra = "txt_recheck = 0\n"

    def setUp(self):
        self.world = World(scenarios={}, extra_config=self.extra)

    def tearDown(self):
        self.world.stop()

    def mtasts(self, *args, now=T0, check=True):
        env = dict(os.environ, MTASTS_TEST_NOW=str(now))
        p = subprocess.run([MTASTS, *args, "--config", self.world.config,
                            "--json"], capture_output=True, env=env,
                           timeout=60)
        if check:
            self.assertIn(p.returncode, (0, 1), p.stderr.decode())
        return json.loads(p.stdout) if p.stdout.strip() else None

    def lookup(self, domain, now=T0):
        return self.mtasts("lookup", domain, now=now)

    def site(self, domain, **kwargs):
        """Changes what the policy host of domain serves."""
        old = self.world.https.sites["mta-sts." + domain]
        kwargs.setdefault("cert", old.cert)
        kwargs.setdefault("body", old.body)
        self.world.https.sites["mta-sts." + domain] = Site(**kwargs)

    def set_txt(self, domain, record):
        self.world.zone.remove("_mta-sts." + domain, "TXT")
        if record is not None:
            self.world.zone.add("_mta-sts." + domain, "TXT", record)

    def dns_queries(self, name):
        return sum(1 for q, _ in self.world.zone.queries if q == name)


class Timeline(CacheWorld):
    def test_rfc8461_section5_timeline(self):
        w, d = self.world, "a.example"
        w.add(d)
        r = self.lookup(d)
        self.assertEqual((r["status"], r["source"]), ("found", "network"))
        self.assertEqual(w.fetches(d), 1)

        # same id: renewed without a fetch, expiry moved on
        r = self.lookup(d, now=T0 + 100)
        self.assertEqual(r["status"], "renewed")
        self.assertEqual(w.fetches(d), 1)
        self.assertEqual(r["policy"]["expires"],
                         time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                       time.gmtime(T0 + 100 + 86400)))

        # a new id: fetched again
        self.set_txt(d, "v=STSv1; id=second")
        self.site(d, body=policy("testing").format(d=d))
        r = self.lookup(d, now=T0 + 200)
        self.assertEqual((r["status"], r["policy"]["mode"],
                          r["policy"]["id"]), ("found", "testing", "second"))
        self.assertEqual(w.fetches(d), 2)

        # the TXT record vanishes: the policy stays in force (§5)
        self.set_txt(d, None)
        r = self.lookup(d, now=T0 + 300)
        self.assertEqual(r["status"], "cached")
        self.assertEqual(r["policy"]["mode"], "testing")
        self.assertEqual(r["policy"]["error"]["code"], "dns_nodata")

        # ... until it expires (fetched at T0+200, max_age 86400)
        r = self.lookup(d, now=T0 + 200 + 86400 + 1)
        self.assertEqual((r["status"], r["policy"]["mode"]),
                         ("not_found", "none"))

    def test_fetch_failure_keeps_cached_policy(self):
        d = "b.example"
        self.world.add(d)
        self.assertEqual(self.lookup(d)["status"], "found")
        self.set_txt(d, "v=STSv1; id=changed")
        self.site(d, status=500, body="down")
        r = self.lookup(d, now=T0 + 60)
        self.assertEqual((r["status"], r["policy"]["mode"],
                          r["policy"]["error"]["code"]),
                         ("cached", "enforce", "http_status_500"))
        # a TXT timeout too
        self.world.zone.set_behaviour("_mta-sts." + d, "timeout")
        r = self.lookup(d, now=T0 + 120)
        self.assertEqual((r["status"], r["policy"]["error"]["code"]),
                         ("cached", "timeout"))

    def test_expired_policy_is_fetched_again(self):
        """Past its max_age a policy is gone: the same TXT id no longer
        renews it, the policy is fetched again (RFC 8461 §5.1)."""
        d = "old.example"
        self.world.add(d)
        self.lookup(d)
        r = self.lookup(d, now=T0 + 86400 + 1)
        self.assertEqual((r["status"], r["policy"]["mode"]),
                         ("found", "enforce"))
        self.assertEqual(self.world.fetches(d), 2)

    def test_an_older_answer_never_replaces_a_newer_one(self):
        """A process whose lookup began earlier (its clock says so) and
        ends later does not overwrite what a peer checked after it."""
        d = "race.example"
        self.world.add(d)
        self.lookup(d)
        self.set_txt(d, "v=STSv1; id=second")
        self.site(d, body=policy("testing").format(d=d))
        self.assertEqual(self.lookup(d, now=T0 + 200)["policy"]["id"],
                         "second")
        self.site(d, status=500, body="down")
        self.mtasts("refresh", "--all", now=T0 + 100)
        show = self.mtasts("cache", "show", d, now=T0 + 200)
        self.assertEqual((show["policy"]["id"], show["checked"]),
                         ("second", time.strftime(
                             "%Y-%m-%dT%H:%M:%SZ", time.gmtime(T0 + 200))))

    def test_clock_set_back(self):
        """Records written while the clock ran a day ahead neither stay
        fresh nor win against answers once it is set right."""
        d = "clock.example"
        self.world.add(d)
        self.lookup(d, now=T0 + 86400)
        self.set_txt(d, "v=STSv1; id=after")
        self.site(d, body=policy("testing").format(d=d))
        r = self.lookup(d, now=T0)
        self.assertEqual((r["status"], r["policy"]["id"]), ("found", "after"))
        self.assertEqual(self.mtasts("cache", "show", d)["policy"]["id"],
                         "after")

    def test_largest_policy_survives_the_cache(self):
        """A policy near the 64 KiB cap, written tight (no space after the
        colons), is read back from its record and renewed, not refetched."""
        d = "big.example"
        self.world.add(d)
        body = "version:STSv1\nmode:enforce\nmax_age:86400\n"
        i = 0
        while len(body) < 65536 - 32:
            body += f"mx:m{i:05d}.{d}\n"
            i += 1
        self.site(d, body=body)
        r = self.lookup(d)
        self.assertEqual((r["status"], len(r["policy"]["mx"])), ("found", i))
        self.assertEqual(self.mtasts("cache", "show", d)["status"], "found")
        r = self.lookup(d, now=T0 + 100)
        self.assertEqual(r["status"], "renewed")
        self.assertEqual(self.world.fetches(d), 1)

    def test_broken_resolver_keeps_cached_policy(self):
        """A failure of this host's own (here a resolver address that
        libunbound refuses) is no reason to forget a policy, nor an answer to cache."""
        d = "r.example"
        self.world.add(d)
        self.assertEqual(self.lookup(d)["status"], "found")
        self.world.write_config(self.extra + "resolver = 1.2.3.4.5\n")
        r = self.lookup(d, now=T0 + 60)
        self.assertEqual((r["status"], r["policy"]["mode"],
                          r["policy"]["error"]["code"]),
                         ("cached", "enforce", "config_error"))
        self.assertEqual(
            self.mtasts("cache", "show", d)["policy"]["mode"], "enforce")

    def test_clock_set_forward(self):
        """A clock jumped past max_age and every certificate's end: the
        enforce policy expired, the policy host's certificate looks
        expired.  The domain's word is not that its policy ended: defer
        (undecided, the record kept) - where a domain never seen under
        enforce gets "no policy" for the same certificate."""
        d = "jump.example"
        self.world.add(d)
        self.assertEqual(self.lookup(d)["verdict"], "enforce")
        self.set_txt(d, "v=STSv1; id=later")
        self.site(d, cert=self.world.ca.issue(d + "-expired",
                                              ["mta-sts." + d], expired=True))
        later = T0 + 2 * 365 * 86400
        r = self.lookup(d, now=later)
        self.assertEqual((r["status"], r["policy"]["error"]["code"],
                          r["verdict"], r.get("undecided")),
                         ("errored", "tls_cert_time", "defer", True))
        # the record still says what it said: asked again, the same
        self.assertEqual(self.lookup(d, now=later + 60)["verdict"], "defer")
        # the clock mended, the certificate renewed: enforce again
        self.site(d, cert=self.world.ca.issue(d + "-renewed",
                                              ["mta-sts." + d]))
        self.assertEqual(self.lookup(d, now=later + 120)["verdict"],
                         "enforce")

    def test_mode_none_replaces_enforce(self):
        d = "c.example"
        self.world.add(d)
        self.assertEqual(self.lookup(d)["policy"]["mode"], "enforce")
        self.set_txt(d, "v=STSv1; id=revoked")
        self.site(d, body=policy("none", mx=()))
        r = self.lookup(d, now=T0 + 60)
        self.assertEqual((r["status"], r["policy"]["mode"]),
                         ("found", "none"))
        r = self.mtasts("cache", "show", d)
        self.assertEqual(r["policy"]["mode"], "none")


class Freshness(CacheWorld):
    extra = "txt_recheck = 900\nnegative_ttl = 3600\nerror_retry = 60\n"

    def test_fresh_policy_costs_no_query(self):
        d = "a.example"
        self.world.add(d)
        self.lookup(d)
        before = self.dns_queries("_mta-sts." + d)
        r = self.lookup(d, now=T0 + 899)
        self.assertEqual((r["status"], r["source"]), ("cached", "cache"))
        self.assertEqual(self.dns_queries("_mta-sts." + d), before)
        r = self.lookup(d, now=T0 + 900)
        self.assertEqual((r["status"], r["source"]), ("renewed", "network"))

    def test_no_policy_is_cached(self):
        d = "plain.example"
        self.world.add(d, txt=None, site=None)
        r = self.lookup(d)
        self.assertEqual((r["status"], r["source"]), ("not_found", "network"))
        before = self.dns_queries("_mta-sts." + d)
        for t in (1, 1800, 3599):
            r = self.lookup(d, now=T0 + t)
            self.assertEqual((r["status"], r["source"]),
                             ("not_found", "cache"))
        self.assertEqual(self.dns_queries("_mta-sts." + d), before)
        r = self.lookup(d, now=T0 + 3600)
        self.assertEqual(r["source"], "network")

    def test_errors_back_off(self):
        d = "broken.example"
        self.world.add(d, site=dict(status=404, body="no"))
        t = T0
        for delay in (60, 120, 240):
            r = self.lookup(d, now=t)
            self.assertEqual((r["status"], r["source"]),
                             ("errored", "network"))
            r = self.lookup(d, now=t + delay - 1)
            self.assertEqual(r["source"], "cache")
            t += delay
        self.assertEqual(self.world.fetches(d), 3)


class FailedRefreshBacksOff(CacheWorld):
    """A policy in force whose refresh fails (a new TXT id, its policy
    host down or hanging) is served as it is until the next try, which
    backs off as a first discovery's errors do: each delivery process
    paid the fetch deadline (one host got 58 attempts under load)."""
    extra = ("txt_recheck = 0\nerror_retry = 60\nnegative_ttl = 3600\n"
             "fetch_timeout = 1\n")

    def test_failures_back_off(self):
        d = "a.example"
        self.world.add(d)
        self.lookup(d)
        self.set_txt(d, "v=STSv1; id=new")
        self.site(d, status=500, body="down")
        t = T0 + 10
        for delay in (60, 120, 240):
            r = self.lookup(d, now=t)
            self.assertEqual((r["status"], r["source"],
                              r["policy"]["mode"]),
                             ("cached", "network", "enforce"))
            r = self.lookup(d, now=t + delay - 1)
            self.assertEqual((r["source"], r["policy"]["mode"]),
                             ("cache", "enforce"))
            t += delay
        self.assertEqual(self.world.fetches(d), 4)
        # the host back: the next try finds the new policy
        self.site(d, status=200, body=policy().format(d=d))
        r = self.lookup(d, now=t)
        self.assertEqual((r["status"], r["policy"]["id"]), ("found", "new"))
        self.assertEqual(self.lookup(d, now=t + 1)["source"], "network")

    def test_a_hanging_host_costs_one_attempt(self):
        """16 deliveries at once, the host hangs: one fetch, the others
        wait for it and take the policy in force."""
        d = "hang.example"
        self.world.add(d)
        self.lookup(d)
        self.set_txt(d, "v=STSv1; id=new")
        self.site(d, how="hang")
        env = dict(os.environ, MTASTS_TEST_NOW=str(T0 + 10))
        procs = [subprocess.Popen([MTASTS, "lookup", "--config",
                                   self.world.config, "--json", d],
                                  stdout=subprocess.PIPE, env=env)
                 for _ in range(16)]
        results = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
        self.assertEqual(self.world.fetches(d), 2)
        for r in results:
            self.assertEqual(r["policy"]["mode"], "enforce")


class ManyProcesses(CacheWorld):
    extra = "txt_recheck = 900\n"

    def test_32_processes_one_fetch(self):
        d = "busy.example"
        self.world.add(d, site=dict(delay=1.0))
        env = dict(os.environ, MTASTS_TEST_NOW=str(T0))
        procs = [subprocess.Popen([MTASTS, "lookup", "--config",
                                   self.world.config, "--json", d],
                                  stdout=subprocess.PIPE, env=env)
                 for _ in range(32)]
        results = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
        self.assertEqual(self.world.fetches(d), 1)
        for r in results:
            self.assertIn(r["status"], ("found", "cached"))
            self.assertEqual(r["policy"]["mode"], "enforce")

    def test_forced_rechecks_fetch_once(self):
        """Forced re-checks (what the adapters do before deferring) of one
        domain at once: one discovers, the others take its answer."""
        d = "moved.example"
        self.world.add(d)
        self.lookup(d)
        self.set_txt(d, "v=STSv1; id=moved")
        self.site(d, delay=1.0)
        env = dict(os.environ, MTASTS_TEST_NOW=str(T0 + 60))
        procs = [subprocess.Popen([MTASTS, "refresh", "--all", "--config",
                                   self.world.config, "--json"],
                                  stdout=subprocess.PIPE, env=env)
                 for _ in range(16)]
        for p in procs:
            p.communicate(timeout=60)
        self.assertEqual(self.world.fetches(d), 2)
        self.assertEqual(self.mtasts("cache", "show", d, now=T0 + 60)
                         ["policy"]["id"], "moved")

    def test_killed_writers_leave_a_working_cache(self):
        domains = [f"k{i}.example" for i in range(20)]
        for d in domains:
            self.world.add(d)
        rng = random.Random(8461)
        killed = 0
        for i in range(200):
            env = dict(os.environ, MTASTS_TEST_NOW=str(T0 + 1000 * i))
            p = subprocess.Popen([MTASTS, "refresh", "--all", "--config",
                                  self.world.config, "--json"]
                                 if i % 2 else
                                 [MTASTS, "lookup", "--config",
                                  self.world.config, "--json", *domains],
                                 stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, env=env)
            time.sleep(rng.uniform(0, 0.06))
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                killed += 1
            p.wait()
        self.assertGreater(killed, 100)
        listing = self.mtasts("cache", "list", now=T0 + 10**6)
        self.assertIsNotNone(listing)
        r = self.mtasts("lookup", *domains, now=T0 + 10**6)
        for res in r["results"]:
            self.assertIn(res["status"], ("found", "renewed", "cached"))
            self.assertNotIn("cache_error", res)


class Overrides(CacheWorld):
    extra = """
[domain skipped.example]
skip = yes

[domain forced.example]
mode = enforce

[domain static.example]
mode = enforce
mx = Mail.Static.Example.
mx = *.backup.static.example

[domain relaxed.example]
mode = testing

[domain unpublished.example]
mode = enforce
"""

    def test_overrides_decide_the_smtpd_table(self):
        """The table lists what the verdicts say: a mode override replaces
        the mode of the policy the cache holds, and a domain that publishes
        none stays out (unless its policy is static)."""
        self.world.add("relaxed.example")
        self.world.add("cached.example")
        self.world.add("forced.example", site=dict(body=policy("testing")))
        self.world.add("unpublished.example", txt=None, site=None)
        self.mtasts("lookup", "relaxed.example", "cached.example",
                    "forced.example", "unpublished.example")
        self.assertEqual(self.mtasts("cache", "show", "relaxed.example")
                         ["policy"]["mode"], "enforce")
        table = os.path.join(self.world.dir, "smtpd-enforce")
        self.mtasts("refresh", "--smtpd-table", table, now=T0 + 10)
        with open(table) as f:
            self.assertEqual(sorted(f.read().split()),
                             ["cached.example", "forced.example",
                              "mtasts.invalid", "static.example"])

    def test_overrides(self):
        w = self.world
        w.add("skipped.example")
        w.add("forced.example", site=dict(body=policy("testing")))
        w.add("static.example", txt=None, site=None)
        r = self.lookup("skipped.example")
        self.assertEqual((r["status"], r["source"], r["override"],
                          r["policy"]["mode"]),
                         ("not_found", "override", "skip", "none"))
        self.assertEqual(w.fetches("skipped.example"), 0)
        r = self.lookup("forced.example")
        self.assertEqual((r["status"], r["override"], r["policy"]["mode"]),
                         ("found", "mode", "enforce"))
        # the cache keeps what the domain published
        self.assertEqual(self.mtasts("cache", "show", "forced.example")
                         ["policy"]["mode"], "testing")
        r = self.lookup("Static.Example.")
        self.assertEqual((r["status"], r["source"], r["override"],
                          r["policy"]["mode"], r["policy"]["mx"]),
                         ("found", "override", "static", "enforce",
                          ["mail.static.example", "*.backup.static.example"]))

    def test_bad_overrides(self):
        cases = {
            "[domain a.example]\nskip = yes\nmode = enforce\n": "skip",
            "[domain a.example]\nmx = a.b\n": "mx needs a mode",
            "[domain a.example]\n": None,
            "[domain a.example]\nmode = strict\n": "invalid value",
            "[domain not..valid]\nskip = yes\n": "not a domain",
            "[domain a.example]\nskip = yes\n[domain A.example]\n"
            "skip = yes\n": "twice",
        }
        for text, words in cases.items():
            with self.subTest(text=text), \
                    tempfile.NamedTemporaryFile("w") as f:
                f.write("[mtasts]\n" + text)
                f.flush()
                p = subprocess.run([MTASTS, "lookup", "--config", f.name,
                                    "a.example"], capture_output=True)
                if words is None:  # an empty section is no override
                    continue
                self.assertEqual(p.returncode, 2)
                self.assertIn(words, p.stderr.decode())


class UnknownBackend(CacheWorld):
    """cache_backend names a store no backend has: every lookup says so,
    and a domain the network says has no policy is deferred (the cache
    that may hold its enforce policy cannot be read), never "none"."""
    extra = "cache_backend = lmbd\n"

    def test_no_policy_is_deferred_and_the_name_reported(self):
        self.world.add("nopolicy.example", txt=None, site=None)
        self.world.add("a.example")
        r = self.lookup("nopolicy.example")
        self.assertEqual(r["verdict"], "defer")
        self.assertIn("cache_backend lmbd: no such backend",
                      r["cache_error"]["message"])
        self.assertEqual(self.lookup("a.example")["verdict"], "enforce")
        self.assertFalse(os.path.exists(
            os.path.join(self.world.cache_dir, "data.mdb")))


class Files(CacheWorld):
    extra = "cache_mode = 0640\ncache_group = daemon\n"

    def test_modes_and_group(self):
        self.world.add("a.example")
        self.lookup("a.example")
        import grp
        gid = grp.getgrnam("daemon").gr_gid
        for name in ("data.mdb", "lock.mdb", "discovery.lock"):
            st = os.stat(os.path.join(self.world.cache_dir, name))
            self.assertEqual(stat.S_IMODE(st.st_mode), 0o640, name)
            self.assertEqual(st.st_gid, gid, name)
        st = os.stat(self.world.cache_dir)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o2750)
        self.assertEqual(st.st_gid, gid)
        # files found otherwise are set right again by the next open (a
        # warm one too: one lstat each when nothing is to change)
        for name in ("data.mdb", "lock.mdb"):
            path = os.path.join(self.world.cache_dir, name)
            os.chmod(path, 0o600)
            os.chown(path, -1, 0)
        self.lookup("a.example")
        for name in ("data.mdb", "lock.mdb"):
            st = os.stat(os.path.join(self.world.cache_dir, name))
            self.assertEqual((stat.S_IMODE(st.st_mode), st.st_gid),
                             (0o640, gid), name)

    def test_damaged_cache_is_reported_not_ignored(self):
        self.world.add("a.example")
        self.lookup("a.example")
        with open(os.path.join(self.world.cache_dir, "data.mdb"),
                  "r+b") as f:
            f.write(os.urandom(8192))
        env = dict(os.environ, MTASTS_TEST_NOW=str(T0))
        p = subprocess.run([MTASTS, "lookup", "--config", self.world.config,
                            "--json", "a.example"], capture_output=True,
                           env=env)
        r = json.loads(p.stdout)
        self.assertEqual(r["cache_error"]["code"], "cache_error")
        self.assertIn("mtasts cache rebuild", r["cache_error"]["message"])
        self.assertIn("warning", p.stderr.decode())
        # the answer still comes, from the network
        self.assertEqual(r["status"], "found")
        p = subprocess.run([MTASTS, "cache", "list", "--config",
                            self.world.config], capture_output=True)
        self.assertEqual(p.returncode, 2)
        self.assertIn("cache", p.stderr.decode())
        # the operator rebuilds: the damaged file kept aside, a new one
        r = self.mtasts("cache", "rebuild")
        self.assertEqual(r["rebuilt"], True)
        self.assertTrue(os.path.exists(os.path.join(
            self.world.cache_dir, "data.mdb.damaged")))
        r = self.lookup("a.example")
        self.assertEqual(r["status"], "found")
        self.assertNotIn("cache_error", r)
        self.assertEqual(len(self.mtasts("cache", "list")["domains"]), 1)

    def test_a_planted_link_is_not_followed(self):
        """A link in place of lock.mdb or data.mdb (a member of the
        cache's group could put one there for a root process): the cache
        is not opened through it, and the file it points to is left
        alone."""
        self.world.add("a.example")
        self.lookup("a.example")
        victim = os.path.join(self.world.dir, "victim")
        for name in ("lock.mdb", "data.mdb"):
            with self.subTest(name=name):
                with open(victim, "w") as f:
                    f.write("precious\n")
                path = os.path.join(self.world.cache_dir, name)
                kept = path + ".real"
                os.rename(path, kept)
                os.symlink(victim, path)
                env = dict(os.environ, MTASTS_TEST_NOW=str(T0))
                p = subprocess.run([MTASTS, "lookup", "--config",
                                    self.world.config, "--json",
                                    "a.example"],
                                   capture_output=True, env=env)
                r = json.loads(p.stdout)
                self.assertIn("not a regular file",
                              r["cache_error"]["message"])
                with open(victim) as f:
                    self.assertEqual(f.read(), "precious\n")
                os.unlink(path)
                os.rename(kept, path)

    def test_damaged_record_is_never_forgotten(self):
        """A record that no longer reads may hold an enforce policy: an
        answer without a policy does not replace it (every verdict stays
        defer), a policy found does."""
        d = "a.example"
        self.world.add(d)
        self.lookup(d)
        path = os.path.join(self.world.cache_dir, "data.mdb")
        with open(path, "r+b") as f:
            data = f.read()
            at = data.index(b"MS\x02\x01")  # magic, version, has_policy
            f.seek(at + 2)
            f.write(b"\x63")  # a version this code does not know
        self.set_txt(d, None)
        for t in (T0 + 10, T0 + 20):
            r = self.lookup(d, now=t)
            self.assertEqual((r["status"], r["cache_error"]["code"]),
                             ("not_found", "cache_error"))
        self.assertIsNone(self.mtasts("cache", "show", d, check=False))
        self.set_txt(d, "v=STSv1; id=again")
        r = self.lookup(d, now=T0 + 30)
        self.assertEqual(r["status"], "found")
        self.assertEqual(self.mtasts("cache", "show", d)["policy"]["id"],
                         "again")

    def test_full_cache_makes_room(self):
        """A cache full of answers that have run out drops them to take a
        new one (no cache_error, so no verdict defer)."""
        self.world.write_config(self.extra + "cache_size = 1\n")
        listing = os.path.join(self.world.dir, "domains")
        with open(listing, "w") as f:
            f.write("".join(f"gone{i}.example\n" for i in range(12000)))
        self.mtasts("lookup", "--file", listing)
        # a policy found still has room (the last tenth is kept for them
        # and for deletes)
        self.world.add("late.example")
        r = self.lookup("late.example", now=T0 + 7200)
        self.assertEqual(r["status"], "found")
        self.assertNotIn("cache_error", r)
        # an answer without one makes room: the stale records go, once a
        # minute at most (the lock file's time; a minute passes here)
        lock = os.path.join(self.world.cache_dir, "discovery.lock")
        os.utime(lock, (time.time() - 61, time.time() - 61))
        self.world.add("late-none.example", txt=None, site=None)
        r = self.lookup("late-none.example", now=T0 + 7200)
        self.assertNotIn("cache_error", r)
        self.assertEqual(self.mtasts("cache", "show", "gone1.example",
                                     check=False), None)
        self.assertEqual(self.mtasts("cache", "show", "late-none.example")
                         ["status"], "not_found")

    def test_cache_filled_on_purpose_keeps_the_domains_in_use(self):
        """An attacker's domains with large policies, each asked for
        once, fill the map: a new enforce policy is still kept (never
        refused), and the domain mail goes to every hour stays, while
        the flood's records go."""
        self.world.write_config(self.extra + "cache_size = 1\n")
        daily = "daily.example"
        self.world.add(daily)
        for hour in range(3):  # used in three hours: it counts
            self.lookup(daily, now=T0 + 3600 * hour + 1)
        big = policy(mx=[f"mx{i:04d}.{{d}}-padding-padding-padding"
                         for i in range(1200)])
        flood = [f"flood{i}.example" for i in range(40)]
        for d in flood:
            self.world.add(d, site=dict(body=big))
        listing = os.path.join(self.world.dir, "flood")
        with open(listing, "w") as f:
            f.write("\n".join(flood) + "\n")
        self.mtasts("lookup", "--file", listing, now=T0 + 4 * 3600)
        self.world.add("new.example")
        r = self.lookup("new.example", now=T0 + 4 * 3600 + 60)
        self.assertEqual(r["status"], "found")
        self.assertNotIn("cache_error", r)
        kept = {e["domain"] for e in self.mtasts("cache", "list",
                                                   now=T0 + 4 * 3600 + 60)
                ["domains"]}
        self.assertIn("new.example", kept)
        self.assertIn(daily, kept)
        self.assertLess(len(kept & set(flood)), len(flood))

    def lookup_raw(self, domain, wrap=()):
        env = dict(os.environ, MTASTS_TEST_NOW=str(T0))
        p = subprocess.run([*wrap, MTASTS, "lookup", "--config",
                            self.world.config, "--json", domain],
                           capture_output=True, env=env, timeout=60)
        return json.loads(p.stdout)

    def test_a_read_only_file_system_is_no_lock_free_read(self):
        """Where lock.mdb cannot be written LMDB reads without a lock
        table, unseen by writers that then reuse its pages: the cache is
        not read at all (a read-only open would have read it)."""
        self.world.add("a.example")
        self.lookup("a.example")
        d = self.world.cache_dir
        r = self.lookup_raw("a.example", wrap=(
            "unshare", "-m", "sh", "-c",
            f'mount --bind "{d}" "{d}" && '
            f'mount -o remount,bind,ro "{d}" && exec "$0" "$@"'))
        self.assertEqual(r["cache_error"]["code"], "cache_error")
        self.assertIn("lock table", r["cache_error"]["message"])
        self.assertEqual((r["status"], r["source"]), ("found", "network"))

    def test_an_empty_data_file_is_set_up_again(self):
        """data.mdb of 0 bytes (its maker died before writing it): the
        next process sets it up, as a writable open does; a read-only one
        cannot, and would leave every process with cache_error."""
        self.world.add("a.example")
        self.lookup("a.example")
        os.truncate(os.path.join(self.world.cache_dir, "data.mdb"), 0)
        r = self.lookup_raw("a.example")
        self.assertNotIn("cache_error", r)
        self.assertEqual((r["status"], r["source"]), ("found", "network"))
        self.assertEqual(self.lookup_raw("a.example")["source"], "cache")

    def test_a_lock_table_of_another_data_file_is_refused(self):
        """A process that opens while mtasts cache rebuild swaps the files
        can set up lock.mdb from the old data.mdb and keep it alive for
        the new one, whose transactions it does not know: readers would
        take an old root (of an empty file: "not cached" where a policy
        is).  Made here by holding the lock table open (LMDB through
        ctypes) while an older data.mdb is put in place."""
        d = self.world.cache_dir
        for name in ("a.example", "b.example", "c.example", "d.example"):
            self.world.add(name)
        self.lookup("a.example")
        early = os.path.join(self.world.dir, "early.mdb")
        with open(os.path.join(d, "data.mdb"), "rb") as f, \
                open(early, "wb") as out:
            out.write(f.read())
        for name in ("b.example", "c.example", "d.example"):
            self.lookup(name)
        holder = subprocess.Popen(["/usr/bin/python3", "-c", """
import ctypes, sys
lmdb = ctypes.CDLL("liblmdb.so.0")
env = ctypes.c_void_p()
assert lmdb.mdb_env_create(ctypes.byref(env)) == 0
lmdb.mdb_env_set_maxreaders(env, 1024)
lmdb.mdb_env_set_mapsize(env, ctypes.c_size_t(64 << 20))
rc = lmdb.mdb_env_open(env, sys.argv[1].encode(), 0x200000 | 0x20000, 0o640)
print(rc, flush=True)
sys.stdin.read()
""", d], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            self.assertEqual(holder.stdout.readline().strip(), "0")
            os.rename(early, os.path.join(d, "data.mdb"))
            r = self.lookup_raw("a.example")
            self.assertEqual(r["cache_error"]["code"], "cache_error")
            self.assertIn("lock table", r["cache_error"]["message"])
            self.assertEqual((r["status"], r["source"]),
                             ("found", "network"))
        finally:
            holder.stdin.close()
            holder.wait(timeout=10)
        # the holder gone, the next process sets the table up again
        r = self.lookup_raw("a.example")
        self.assertNotIn("cache_error", r)
        self.assertEqual(r["source"], "cache")

    def on_a_small_file_system(self, size, steps):
        """Runs steps (shell lines; "LOOKUP D" a lookup printed as one
        line of JSON, "FILL" fills what space is left) with a tmpfs of
        size over the cache directory, in a mount namespace of its own.
        Returns [(exit status, JSON or None)] of the lookups."""
        d = self.world.cache_dir
        os.makedirs(d, exist_ok=True)
        script = [f'mount -t tmpfs -o size={size},mode=0755 none "{d}"']
        for step in steps:
            if step == "FILL":
                script.append(f'dd if=/dev/zero of="{d}/fill" bs=4k '
                              '2>/dev/null; true')
            else:
                args = step.split()[1:]
                script.append(f'"{MTASTS}" {" ".join(args)} --config '
                              f'"{self.world.config}" --json; '
                              'echo "@@ $?"')
        env = dict(os.environ, MTASTS_TEST_NOW=str(T0))
        p = subprocess.run(["unshare", "-m", "--propagation", "private",
                            "sh", "-c", "\n".join(script)],
                           capture_output=True, text=True, env=env,
                           timeout=120)
        self.assertNotIn("Bus error", p.stderr)
        out, results = [], []
        for line in p.stdout.splitlines():
            if line.startswith("@@ "):
                text = "\n".join(out).strip()
                try:
                    results.append((int(line[3:]),
                                    json.loads(text) if text else None))
                except ValueError:
                    self.fail(f"not JSON: {text!r}")
                out = []
            else:
                out.append(line)
        return results

    def test_a_full_file_system_is_no_crash(self):
        """The cache made on a full file system: LMDB's lock table, a
        sparse file written through a shared map, took a SIGBUS ("Bus
        error", Exim's "crashed with signal 7").  Now the cache is not
        opened, says why, and the network's answer stands."""
        self.world.add("a.example")
        [(rc, r), (rc2, listing)] = self.on_a_small_file_system(
            "64k", ["FILL", "LOOKUP lookup a.example",
                    "LOOKUP cache list"])
        self.assertIn(rc, (0, 1))
        self.assertEqual((r["status"], r["source"], r["policy"]["mode"]),
                         ("found", "network", "enforce"))
        self.assertEqual(r["cache_error"]["code"], "cache_error")
        self.assertIn("No space left on device", r["cache_error"]["message"])
        self.assertEqual(rc2, 2)

    def test_a_cache_grown_past_the_space_left(self):
        """The cache works, then its file system fills and a new enforce
        policy must be stored: no crash, the policy is used from the
        network and said not stored; what was stored is still read."""
        big = policy(mx=[f"mx{i}.{{d}}" for i in range(200)])
        self.world.add("a.example")
        self.world.add("b.example", site={"body": big.format(d="b.example")})
        steps = ["LOOKUP lookup a.example", "FILL",
                 "LOOKUP lookup b.example", "LOOKUP lookup b.example",
                 "LOOKUP lookup a.example", "LOOKUP cache list",
                 "LOOKUP refresh --all"]
        results = self.on_a_small_file_system("1m", steps)
        self.assertEqual(len(results), 6)
        for rc, _ in results:
            self.assertIn(rc, (0, 1, 2))
        first, b, b_again, a, listing, _ = [r for _, r in results]
        self.assertEqual(first["source"], "network")
        for r in (b, b_again):
            self.assertEqual((r["source"], r["policy"]["mode"]),
                             ("network", "enforce"))
            self.assertEqual(r["cache_error"]["code"], "io_error")
            self.assertIn("No space left", r["cache_error"]["message"])
        self.assertEqual((a["source"], a["policy"]["mode"]),
                         ("cache", "enforce"))
        self.assertEqual([e["domain"] for e in listing["domains"]],
                         ["a.example"])

    def test_cache_dir_that_is_a_file(self):
        os.makedirs(os.path.dirname(self.world.cache_dir), exist_ok=True)
        open(self.world.cache_dir, "w").close()
        self.world.add("a.example")
        r = self.lookup("a.example")
        self.assertEqual((r["status"], r["cache_error"]["code"]),
                         ("found", "cache_error"))


class LostPolicies(CacheWorld):
    """A cache that lost what it held (data.mdb truncated, its files
    deleted, an older copy restored) must not forget an enforce policy in
    force: its witness (the folder enforced/) outlives data.mdb, and a "no
    policy" for such a domain defers until the policy is found again, its
    max_age runs out, or the operator says otherwise (cache forget)."""

    def data(self):
        return os.path.join(self.world.cache_dir, "data.mdb")

    def enforce_then_policy_host_gone(self, d):
        self.world.add(d)
        self.assertEqual(self.lookup(d)["verdict"], "enforce")
        self.site(d, status=404, body="gone")

    def assert_lost(self, d, now=T0 + 60):
        r = self.lookup(d, now=now)
        self.assertEqual(r["verdict"], "defer", r)
        self.assertEqual(r["cache_error"]["code"], "cache_error")
        self.assertIn(f"the cache lost the enforce policy it held for {d}",
                      r["cache_error"]["message"])
        # the loss is no answer to keep: asked again, the same
        self.assertEqual(self.lookup(d, now=now + 1)["verdict"], "defer")
        return r

    def test_a_truncated_data_file(self):
        d = "a.example"
        self.enforce_then_policy_host_gone(d)
        os.truncate(self.data(), 0)
        r = self.assert_lost(d)
        self.assertIn("for 24 more hours", r["cache_error"]["message"])
        lost = self.mtasts("cache", "lost", check=False)
        self.assertEqual([e["domain"] for e in lost["lost"]], [d])
        # the policy host back: found again, enforced, nothing lost
        self.site(d, status=200, body=policy().format(d=d))
        self.assertEqual(self.lookup(d, now=T0 + 120)["verdict"], "enforce")
        self.assertEqual(self.mtasts("cache", "lost")["lost"], [])

    def test_deleted_files(self):
        d = "a.example"
        self.enforce_then_policy_host_gone(d)
        self.set_txt(d, None)
        for name in ("data.mdb", "lock.mdb"):
            os.unlink(os.path.join(self.world.cache_dir, name))
        self.assert_lost(d)

    def test_an_older_copy_restored(self):
        d, early = "a.example", "early.example"
        self.world.add(early, txt=None, site=None)
        self.lookup(early)
        with open(self.data(), "rb") as f:
            before = f.read()
        self.enforce_then_policy_host_gone(d)
        self.set_txt(d, None)
        with open(self.data(), "wb") as f:
            f.write(before)
        self.assert_lost(d)
        # a domain that never had a policy is as it was
        self.assertEqual(self.lookup(early, now=T0 + 60)["verdict"], "none")

    def test_the_operator_forgets(self):
        d = "a.example"
        self.enforce_then_policy_host_gone(d)
        os.truncate(self.data(), 0)
        self.assert_lost(d)
        r = self.mtasts("cache", "forget", d.upper())
        self.assertEqual(r, {"domain": d, "forgotten": True})
        self.assertEqual(self.lookup(d, now=T0 + 120)["verdict"], "none")
        self.assertEqual(self.mtasts("cache", "forget", d)["forgotten"],
                         False)

    def test_past_max_age_the_loss_is_no_more(self):
        """RFC 8461 §5.1: a policy past its max_age is gone; so is the
        witness's hold on the domain (and refresh lets go of it)."""
        d = "a.example"
        self.enforce_then_policy_host_gone(d)
        os.truncate(self.data(), 0)
        later = T0 + 86400 + 1
        self.assertEqual(self.lookup(d, now=later)["verdict"], "none")
        self.assertEqual(self.mtasts("refresh", now=later)["lost"], 0)
        self.assertFalse(os.path.exists(
            os.path.join(self.world.cache_dir, "enforced", d)))

    def test_testing_and_none_are_not_witnessed(self):
        t, n = "t.example", "n.example"
        self.world.add(t, site={"body": policy("testing")})
        self.world.add(n)
        self.lookup(t)
        self.lookup(n)
        # n.example moves to mode none: its witness ends with it
        self.set_txt(n, "v=STSv1; id=none")
        self.site(n, body=policy("none", mx=()))
        self.assertEqual(self.lookup(n, now=T0 + 10)["policy"]["mode"], "none")
        for d in (t, n):
            self.site(d, status=404, body="gone")
        os.truncate(self.data(), 0)
        for d in (t, n):
            self.assertEqual(self.lookup(d, now=T0 + 60)["verdict"], "none")

    def test_refresh_finds_a_lost_policy_again(self):
        d = "a.example"
        self.world.add(d)
        self.lookup(d)
        os.truncate(self.data(), 0)
        r = self.mtasts("refresh", now=T0 + 60)
        self.assertEqual((r["lost"], r["status"]["found"]), (1, 1))
        self.assertEqual(self.mtasts("cache", "show", d)["policy"]["mode"],
                         "enforce")
        self.assertEqual(self.mtasts("cache", "lost")["lost"], [])

    def test_a_damaged_witness_still_holds(self):
        d = "a.example"
        self.enforce_then_policy_host_gone(d)
        os.truncate(self.data(), 0)
        with open(os.path.join(self.world.cache_dir, "enforced", d),
                  "w") as f:
            f.write("garbage")
        r = self.assert_lost(d)
        self.assertIn("damaged witness", r["cache_error"]["message"])


class SharedAcrossUsers(CacheWorld):
    """The Exim user and the OpenSMTPD filter user share one cache through
    its group (mtasts.conf(5), SHARING THE CACHE)."""
    extra = "cache_mode = 0660\ncache_group = nogroup\n"

    def as_user(self, uid, gid, *domains):
        env = dict(os.environ, MTASTS_TEST_NOW=str(T0))
        p = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={gid}",
                            "--clear-groups", MTASTS, "lookup", "--config",
                            self.world.config, "--json", *domains],
                           capture_output=True, env=env, timeout=60)
        return json.loads(p.stdout)

    def test_group_shares_the_cache(self):
        os.chmod(self.world.dir, 0o755)
        for d in ("a.example", "b.example"):
            self.world.add(d)
        self.lookup("a.example")  # root makes the cache
        r = self.as_user("nobody", "nogroup", "a.example")
        self.assertEqual(r["source"], "cache")
        r = self.as_user("nobody", "nogroup", "b.example")
        self.assertNotIn("cache_error", r)
        self.assertEqual(self.lookup("b.example")["source"], "cache")
        # outside the group: no cache, said so, and still an answer
        r = self.as_user(54321, 54321, "b.example")
        self.assertEqual(r["cache_error"]["code"], "cache_error")
        self.assertEqual(r["status"], "found")


class Commands(CacheWorld):
    extra = "txt_recheck = 900\nrefresh_interval = 3600\n"

    def test_show_purge_list(self):
        self.world.add("a.example")
        self.world.add("b.example")
        self.mtasts("lookup", "a.example", "b.example")
        listed = self.mtasts("cache", "list")["domains"]
        self.assertEqual([e["domain"] for e in listed],
                         ["a.example", "b.example"])
        self.assertEqual(self.mtasts("cache", "purge", "A.example.")
                         ["purged"], True)
        self.assertEqual(self.mtasts("cache", "purge", "a.example")
                         ["purged"], False)
        p = subprocess.run([MTASTS, "cache", "show", "a.example",
                            "--config", self.world.config],
                           capture_output=True)
        self.assertEqual(p.returncode, 1)
        r = self.lookup("a.example")
        self.assertEqual(r["source"], "network")

    def test_refresh(self):
        for d in ("a.example", "b.example", "c.example"):
            self.world.add(d)
        self.mtasts("lookup", "a.example", "b.example", "c.example")
        # nothing is due yet
        r = self.mtasts("refresh", now=T0 + 100)
        self.assertEqual((r["cached"], r["refreshed"]), (3, 0))
        # half a day later all are due (checked more than half a refresh
        # interval ago); one host has broken
        self.site("c.example", status=503, body="maintenance")
        self.set_txt("c.example", "v=STSv1; id=new")
        env = dict(os.environ, MTASTS_TEST_NOW=str(T0 + 43200))
        p = subprocess.run([MTASTS, "refresh", "--config",
                            self.world.config, "--json"],
                           capture_output=True, env=env)
        r = json.loads(p.stdout)
        self.assertEqual(p.returncode, 0)  # cached is not a failure
        self.assertEqual(r["refreshed"], 3)
        self.assertEqual(r["status"]["renewed"], 2)
        self.assertEqual(r["status"]["cached"], 1)
        self.assertEqual(r["errors"][0]["domain"], "c.example")
        self.assertEqual(r["errors"][0]["error"]["code"], "http_status_503")
        # and the broken domain's policy is still in force
        show = self.mtasts("cache", "show", "c.example", now=T0 + 43200)
        self.assertEqual(show["policy"]["mode"], "enforce")

    def test_the_timer_renews_long_before_max_age(self):
        """RFC 8461 §5.1 ends a policy at its max_age when it cannot be
        renewed (a clock moved past it, a host off for longer, is "no
        policy"): so the timer (twice a day, up to an hour late) renews
        every policy in use long before.  Ten days of runs, no mail in
        between, policies of one day and of a week: each is renewed with
        at least 11 hours of its max_age left, and never lapses."""
        ages = {"day.example": 86400, "week.example": 604800}
        for d, age in ages.items():
            self.world.add(d, site=dict(body=policy(max_age=str(age))))
        self.mtasts("lookup", *ages)
        least = {d: age for d, age in ages.items()}
        t = T0
        for run in range(20):
            t = T0 + run * 43200 + (3600 if run % 3 == 0 else 0)
            before = {d: self.mtasts("cache", "show", d, now=t)
                      ["policy"]["expires"] for d in ages}
            self.mtasts("refresh", now=t)
            for d in ages:
                left = (time.mktime(time.strptime(before[d],
                                                  "%Y-%m-%dT%H:%M:%SZ"))
                        - time.timezone - t)
                least[d] = min(least[d], left)
        for d, left in least.items():
            self.assertGreaterEqual(left, 11 * 3600, (d, left))
            self.assertEqual(self.lookup(d, now=t + 1)["verdict"],
                             "enforce")

    def test_refresh_only_what_mail_goes_to(self):
        """Domains not asked for within refresh_window (30 days) are left
        to expire; the refresh's own re-checks are no use of a domain."""
        year = policy(max_age="31557600")
        for d in ("daily.example", "once.example"):
            self.world.add(d, site=dict(body=year))
        self.mtasts("lookup", "daily.example", "once.example")
        day = 86400
        for n in range(1, 40):  # daily mail to one, none to the other
            if n % 10 == 0:  # the refresh runs too, every tenth day
                r = self.mtasts("refresh", now=T0 + n * day)
                self.assertEqual(r["refreshed"], 2)
            self.lookup("daily.example", now=T0 + n * day)
        # 40 days on: once.example was last asked for 40 days ago (the
        # refreshes of days 10-30 did not count as asking)
        r = self.mtasts("refresh", now=T0 + 40 * day)
        self.assertEqual(r["cached"], 2)
        self.assertEqual((r["unused"], r["refreshed"]), (1, 1))
        # --all refreshes every cached policy still
        r = self.mtasts("refresh", "--all", now=T0 + 41 * day)
        self.assertEqual((r["unused"], r["refreshed"]), (0, 2))

    def test_refresh_writes_the_smtpd_table(self):
        self.world.add("a.example")
        self.world.add("t.example", site=dict(body=policy("testing")))
        self.mtasts("lookup", "a.example", "t.example")
        table = os.path.join(self.world.dir, "smtpd-enforce")
        self.mtasts("refresh", "--smtpd-table", table, now=T0 + 10)
        with open(table) as f:
            self.assertEqual(f.read(), "mtasts.invalid\na.example\n")
        self.assertEqual(stat.S_IMODE(os.stat(table).st_mode), 0o644)
        # the domain withdraws its policy: once it has expired, the domain
        # leaves the table
        self.set_txt("a.example", None)
        self.mtasts("refresh", "--smtpd-table", table, now=T0 + 10**6)
        with open(table) as f:
            self.assertEqual(f.read(), "mtasts.invalid\n")

    def test_progress_bar_on_a_terminal(self):
        self.world.add("a.example")
        self.mtasts("lookup", "a.example")
        env = dict(os.environ, MTASTS_TEST_NOW=str(T0 + 50000))
        # script(1) gives the command a terminal
        p = subprocess.run(["script", "-qec",
                            f"{MTASTS} refresh --config {self.world.config}",
                            "/dev/null"], capture_output=True, env=env,
                           timeout=60)
        self.assertIn(b"refreshing [", p.stdout)
        self.assertIn(b"1/1", p.stdout)


if __name__ == "__main__":
    unittest.main()
