"""A damaged cache file: random bytes of LMDB's data pages changed, a
thousand times over (MTASTS_DAMAGE_TRIALS), and after each, a lookup of a
domain whose cached policy is enforce and a listing of the cache.  No
process may crash (an MTA would: Exim defers, smtpd stops), and the
verdict may only be enforce (the policy read whole) or defer (the cache
could not say): never none, while the network gives no answer - the
resolver is dead, as if an attacker stripped DNS.  LMDB checks no page:
the fault guard and the record CRC are what this tests."""
import json
import os
import random
import shutil
import subprocess
import sys
import unittest

from world import World

MTASTS = os.environ["MTASTS"]
T0 = 1_900_000_000
TRIALS = int(os.environ.get("MTASTS_DAMAGE_TRIALS", "1000"))
DOMAINS = [f"d{i}.example" for i in range(60)]
PAGE = 4096


class DamagedCache(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.world = World(scenarios={}, extra_config="txt_recheck = 86400\n")
        for d in DOMAINS:
            cls.world.add(d)
        cls.run_mtasts(cls, cls.world.config, "lookup", *DOMAINS)
        cls.pristine = os.path.join(cls.world.dir, "pristine.mdb")
        shutil.copy(os.path.join(cls.world.cache_dir, "data.mdb"),
                    cls.pristine)
        # the same cache, with a resolver that never answers
        cls.dead = os.path.join(cls.world.dir, "dead.conf")
        with open(cls.dead, "w") as f:
            f.write(f"[mtasts]\nresolver = 127.0.0.1@9\ndns_timeout = 0.05\n"
                    f"ca_bundle = {cls.world.ca.cert_file}\n"
                    f"cache_dir = {cls.world.cache_dir}\n"
                    "txt_recheck = 86400\n")

    @classmethod
    def tearDownClass(cls):
        cls.world.stop()

    def run_mtasts(self, config, *args):
        env = dict(os.environ, MTASTS_TEST_NOW=str(T0))
        # a process lets go of a map it found damaged and never frees it
        # (freeing would touch it): a leak by design, one per damage
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + \
            ":detect_leaks=0"
        return subprocess.run([MTASTS, *args, "--config", config, "--json"],
                              capture_output=True, env=env, timeout=60)

    def damage(self, rng):
        """The pristine file, then a few bytes, a run of bytes or a whole
        page of a data page replaced."""
        cache = self.world.cache_dir
        for name in os.listdir(cache):
            if name != "discovery.lock" and os.path.isfile(
                    os.path.join(cache, name)):
                os.unlink(os.path.join(cache, name))
        path = os.path.join(cache, "data.mdb")
        shutil.copy(self.pristine, path)
        size = os.path.getsize(path)
        pages = size // PAGE
        with open(path, "r+b") as f:
            kind = rng.randrange(3)
            for _ in range(rng.randint(1, 8) if kind == 0 else 1):
                page = rng.randrange(2, pages)  # 0 and 1: the meta pages
                if kind == 2:
                    f.seek(page * PAGE)
                    f.write(rng.randbytes(PAGE))
                    continue
                at = page * PAGE + rng.randrange(PAGE)
                n = 1 if kind == 0 else rng.randint(2, 64)
                f.seek(at)
                f.write(rng.randbytes(min(n, size - at)))

    def test_random_damage_never_crashes_never_says_none(self):
        rng = random.Random(8461)
        verdicts = {}
        caught = 0
        for trial in range(TRIALS):
            self.damage(rng)
            d = rng.choice(DOMAINS)
            p = self.run_mtasts(self.dead, "lookup", d)
            where = f"trial {trial}: {p.stderr.decode()[-300:]}"
            self.assertGreaterEqual(p.returncode, 0, where)  # no signal
            self.assertIn(p.returncode, (0, 1), where)
            r = json.loads(p.stdout)
            self.assertIn(r["verdict"], ("enforce", "defer"), where)
            verdicts[r["verdict"]] = verdicts.get(r["verdict"], 0) + 1
            if "damaged" in p.stderr.decode():
                caught += 1
            if trial % 3 == 0:
                self.damage(rng)
                p = self.run_mtasts(self.dead, "cache", "list")
                self.assertGreaterEqual(p.returncode, 0, where)
                self.assertIn(p.returncode, (0, 1, 2), where)
        print(f"\n{TRIALS} damaged caches: verdicts {verdicts}, "
              f"{caught} caught as damage", file=sys.stderr)
        # the damage reached the readers: some lookups could not use it
        self.assertGreater(verdicts.get("defer", 0), 0)

    def test_rebuild_keeps_what_still_reads(self):
        """Damage the readers caught stays (it may hide enforce policies:
        every answer without a policy defers) until the operator runs
        mtasts cache rebuild, which keeps every record that still reads
        and sets the damaged file aside."""
        rng = random.Random(7)
        for _ in range(300):
            self.damage(rng)
            r = json.loads(self.run_mtasts(self.dead, "lookup",
                                           DOMAINS[0]).stdout)
            if "cache_error" in r:
                break
        else:
            self.skipTest("no damage caught in 300 tries")
        # still damaged for the next process: defer, never none
        r = json.loads(self.run_mtasts(self.dead, "lookup",
                                       DOMAINS[0]).stdout)
        self.assertEqual(r["verdict"], "defer")
        p = self.run_mtasts(self.dead, "cache", "rebuild")
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        kept = json.loads(p.stdout)["kept"]
        self.assertTrue(os.path.exists(os.path.join(self.world.cache_dir,
                                                    "data.mdb.damaged")))
        listed = json.loads(self.run_mtasts(self.dead, "cache",
                                            "list").stdout)["domains"]
        self.assertEqual(len(listed), kept)
        # every domain kept answers enforce from the cache, with DNS dead
        for entry in listed:
            r = json.loads(self.run_mtasts(self.dead, "lookup",
                                           entry["domain"]).stdout)
            self.assertEqual(r["verdict"], "enforce", entry["domain"])
        # the others are fetched again when the network answers
        r = json.loads(self.run_mtasts(self.world.config, "lookup",
                                       *DOMAINS).stdout)
        self.assertEqual({x["verdict"] for x in r["results"]}, {"enforce"})


if __name__ == "__main__":
    unittest.main()
