"""filter-mtasts speaking the smtpd-filters protocol over a pipe, against
the loopback world: the answers for each kind of domain, the enforce table
and its reload, and that every request gets a well-formed answer whatever
else comes down the pipe (smtpd stops when a filter misbehaves)."""
import os
import random
import re
import signal
import socket
import subprocess
import time
import sys
import tempfile
import unittest

from dnslib import DNSLabel
from world import World, executable, policy

FILTER = os.environ["MTASTS_FILTER"]
MTASTS = os.environ["MTASTS"]
CONFIG_LINES = ["config|smtpd-version|6.8.0p2", "config|protocol|0.6",
                "config|smtp-session-timeout|300", "config|subsystem|smtp-in",
                "config|ready"]
RESULT = re.compile(r"^filter-result\|([0-9a-f]+)\|([0-9a-f]+)\|"
                    r"(proceed|reject\|[245]\d\d [245]\.\d+\.\d+ .+)$")


def read(path):
    with open(path) as f:
        return f.read()


def well_formed(text):
    """A filter request as smtpd writes them: hex session id and token,
    no NUL byte.  Each gets exactly one answer."""
    f = text.split("|")
    hexa = re.compile(r"^[0-9a-f]+$")
    return (f[0] == "filter" and len(f) >= 7 and "\x00" not in text and
            bool(hexa.match(f[5])) and bool(hexa.match(f[6])))


# the record's first line: the smtpd it was made with (none runs here)
HEADER = "# smtpd none\n"


def smtpd_socket(path):
    """A listening socket at path, as smtpd's control socket: a new one
    (a new inode) for each smtpd."""
    if os.path.exists(path):
        os.unlink(path)
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.listen()
    return s


def children(pid):
    """The processes whose parent is pid."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except (OSError, ValueError):
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry))
    return found


def alive(pid):
    """Whether pid runs (a zombie does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def request(session, token, address, phase="rcpt-to", version="0.6"):
    return (f"filter|{version}|1700000000.000000|smtp-in|{phase}|{session}|"
            f"{token}|{address}")


class Filter(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        w = cls.world = World(scenarios={}, extra_config=(
            "[domain skipped.example]\nskip = yes\n"))
        w.add("good.example", mx=[(10, "mx1.good.example", "127.0.0.1")],
              site=dict(body=policy(mx=("mx1.good.example",))))
        w.add("rogue.example", mx=[(10, "mx.attacker.example", "127.0.0.1")],
              site=dict(body=policy(mx=("mx1.rogue.example",))))
        w.add("testing.example", mx=[(10, "mx.attacker.example",
                                      "127.0.0.1")],
              site=dict(body=policy("testing",
                                    mx=("mx1.testing.example",))))
        w.add("plain.example", txt=None, site=None)
        # a policy host that accepts and never answers: each discovery
        # waits out fetch_timeout
        w.add("stall.example", site=dict(how="hang"))
        w.add("skipped.example", mx=[(10, "mx.attacker.example",
                                      "127.0.0.1")])
        # smtpd's control socket, elsewhere than smtpd's default (as a
        # build with --with-path-socket puts it): which smtpd runs
        cls.socket_path = os.path.join(w.dir, "smtpd.sock")
        cls.smtpd_socket = smtpd_socket(cls.socket_path)

    @classmethod
    def tearDownClass(cls):
        cls.smtpd_socket.close()
        cls.world.stop()

    def run_filter(self, lines, raw=b""):
        table = os.path.join(self.world.dir, "enforce-table")
        marker = os.path.join(self.world.dir, "reloaded")
        # smtpctl's part: it prints on stdout, which must never reach
        # smtpd through the filter's output
        smtpctl = executable(
            os.path.join(self.world.dir, "smtpctl"),
            f"#!/bin/sh\necho \"$@\" >> {marker}\necho command succeeded\n")
        data = "".join(line + "\n" for line in lines).encode() + raw
        p = subprocess.run([FILTER, "--config", self.world.config,
                            "--table", table, "--loaded", table + ".loaded",
                            "--smtpd-socket", self.socket_path,
                            "--reload",
                            f"{MTASTS} smtpd-reload --table {table} "
                            f"--loaded {table}.loaded --smtpctl {smtpctl} "
                            f"--smtpd-socket {self.socket_path}"],
                           input=data, capture_output=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        out = p.stdout.decode().splitlines()
        # one reload: the routes, then the list
        reloads = (read(marker).count("update table mtasts_enforce")
                   if os.path.exists(marker) else 0)
        if os.path.exists(marker):
            self.assertEqual(read(marker).count("mtasts_routes"), reloads)
        return out, p.stderr.decode(), table, reloads

    def add_enforce(self, d):
        """An enforce domain whose one MX its policy allows."""
        self.world.add(d, mx=[(10, "mx1." + d, "127.0.0.1")],
                       site=dict(body=policy(mx=("mx1." + d,))))

    def answers(self, out):
        return [line for line in out if line.startswith("filter-result")]

    def test_registration(self):
        out, _, _, _ = self.run_filter(CONFIG_LINES)
        self.assertEqual(out, ["register|filter|smtp-in|rcpt-to",
                               "register|ready"])

    def test_decisions(self):
        reqs = [request("a1", "b1", "<bob@good.example>"),
                request("a2", "b2", "<bob@good.example>"),
                request("a3", "b3", "<bob@rogue.example>"),
                request("a4", "b4", "<bob@testing.example>"),
                request("a5", "b5", "<bob@plain.example>"),
                request("a6", "b6", "<bob@skipped.example>"),
                request("a7", "b7", "<postmaster>")]
        out, err, table, reloads = self.run_filter(CONFIG_LINES + reqs)
        got = {m.group(1): m.group(3)
               for m in map(RESULT.match, self.answers(out))}
        self.assertEqual(len(got), 7, out)
        # enforce, first time: the route is installed and loaded at once
        self.assertEqual((got["a1"], got["a2"]), ("proceed", "proceed"))
        # requests are decided at once: each one that changed a table
        # reloads (the two of good.example, rogue.example's policy)
        self.assertIn(reloads, (1, 2, 3))
        self.assertNotIn("command succeeded", "\n".join(out))
        self.assertIn("good.example\n", read(table))
        # and its route: the MX the policy allows, STARTTLS required
        self.assertIn("good.example smtp+tls://mx1.good.example:25\n",
                      read(table + ".routes"))
        # enforce with no allowed MX: refused, naming MTA-STS and the MX
        self.assertIn("reject|451 4.7.5 MTA-STS: no MX host of "
                      "rogue.example is allowed by its policy", got["a3"])
        self.assertIn("mx.attacker.example", got["a3"])
        # no route for it: no MX of its qualifies (the list may name it,
        # as every cached enforce policy, when a peer request wrote it)
        self.assertNotIn("rogue.example ", read(table + ".routes"))
        self.assertEqual(got["a4"], "proceed")
        self.assertIn("testing: testing.example: enforce would refuse: "
                      "MX mx.attacker.example is not in the policy", err)
        self.assertEqual((got["a5"], got["a6"], got["a7"]),
                         ("proceed",) * 3)

    def test_policy_rechecked_before_refusing(self):
        """An enforce policy whose MX no longer matches is looked up again
        first: the domain moved to testing, so the recipient proceeds, routed
        or not."""
        w, d = self.world, "moved.example"
        self.add_enforce(d)
        out, _, table, _ = self.run_filter(
            CONFIG_LINES + [request("ab1", "cd1", f"<bob@{d}>")])
        self.assertIn("filter-result|ab1|cd1|proceed", out)
        os.unlink(table + ".loaded")  # as if smtpd had not loaded it yet
        w.zone.remove(d, "MX")
        w.zone.add(d, "MX", (10, "mx.new-provider.example"))
        w.zone.remove("_mta-sts." + d, "TXT")
        w.zone.add("_mta-sts." + d, "TXT", "v=STSv1; id=moved")
        w.https.sites["mta-sts." + d].body = policy(
            "testing", mx=("mx.new-provider.example",)).encode()
        out, _, _, _ = self.run_filter(
            CONFIG_LINES + [request("ab2", "cd2", f"<bob@{d}>")])
        self.assertIn("filter-result|ab2|cd2|proceed", out)

    def test_hostile_addresses_and_names(self):
        """A '|' in the address stays in the address; MX names from DNS
        with control bytes, and long replies, never break the line."""
        w = self.world
        for d, label in (("newline.example", b"mx1\nfilter-result"),
                         ("pipe.example", b"mx1|x")):
            w.add(d, mx=[], site=dict(body=policy(mx=("mx1." + d,))))
            w.zone.add(d, "MX", (10, DNSLabel([label, *d.encode().split(
                b".")])))
        w.add("many.example", mx=[(10, f"mx{i:03d}.elsewhere.example",
                                   "127.0.0.1") for i in range(60)],
              site=dict(body=policy(mx=("mx1.many.example",))))
        reqs = [request("aa1", "bb1", "<a|b@rogue.example>"),
                request("aa2", "bb2", "<bob@newline.example>"),
                request("aa3", "bb3", "<bob@pipe.example>"),
                request("aa4", "bb4", "<bob@many.example>")]
        out, _, _, _ = self.run_filter(CONFIG_LINES + reqs)
        answers = self.answers(out)
        self.assertEqual(len(answers), 4, out)
        for a in answers:
            self.assertRegex(a, r"^filter-result\|aa\d\|bb\d\|reject\|451 "
                                r"4\.7\.5 MTA-STS: no MX host of "
                                r"[a-z.]+ is allowed")
            self.assertLessEqual(len(a), len("filter-result|aa1|bb1|") + 480)
        for line in out:
            self.assertRegex(line, r"^(register|filter-result)\|")

    def test_missed_reload_is_asked_again(self):
        """The table lists the domain but smtpd never loaded it (a reload
        was lost): the filter triggers one again, at most every 10 s."""
        d = "missed.example"
        self.add_enforce(d)
        out, _, table, before = self.run_filter(
            CONFIG_LINES + [request("ee1", "ff1", f"<bob@{d}>")])
        self.assertIn("filter-result|ee1|ff1|proceed", out)
        os.unlink(table + ".loaded")
        out, _, _, reloads = self.run_filter(
            CONFIG_LINES + [request("ee2", "ff2", f"<bob@{d}>")])
        # the table was written a moment ago: not yet
        self.assertIn("filter-result|ee2|ff2|reject|451 4.7.5 MTA-STS: "
                      f"routing {d} under its enforce policy, try again "
                      "shortly", out)
        self.assertEqual(reloads, before)
        old = os.stat(table).st_mtime - 60
        os.utime(table, (old, old))
        out, _, _, reloads = self.run_filter(
            CONFIG_LINES + [request("ee3", "ff3", f"<bob@{d}>")])
        self.assertIn("filter-result|ee3|ff3|proceed", out)
        self.assertEqual(reloads, before + 1)

    def test_smtpd_restart_told_apart_wherever_its_socket_is(self):
        """smtpd's control socket is not at /var/run/smtpd.sock: the
        record still names the smtpd that loaded the tables, and a new
        smtpd (a new socket) does not take it for its own: 451 until the
        tables are loaded into it."""
        d = "restart.example"
        self.add_enforce(d)
        out, _, table, before = self.run_filter(
            CONFIG_LINES + [request("ac1", "bd1", f"<bob@{d}>")])
        self.assertIn("filter-result|ac1|bd1|proceed", out)
        ino = os.stat(self.socket_path).st_ino
        self.assertRegex(read(table + ".loaded"),
                         rf"^# smtpd {ino}\.\d+\.\d+\n")
        # smtpd restarts: a new socket in the same place
        self.smtpd_socket.close()
        self.__class__.smtpd_socket = smtpd_socket(self.socket_path)
        out, err, _, reloads = self.run_filter(
            CONFIG_LINES + [request("ac2", "bd2", f"<bob@{d}>")])
        self.assertIn("filter-result|ac2|bd2|reject|451 4.7.5 MTA-STS: "
                      f"routing {d} under its enforce policy", "\n".join(out))
        self.assertEqual(reloads, before)
        # the missed reload is asked for again: loaded into the new one
        old = os.stat(table).st_mtime - 60
        os.utime(table, (old, old))
        out, _, _, reloads = self.run_filter(
            CONFIG_LINES + [request("ac3", "bd3", f"<bob@{d}>")])
        self.assertIn("filter-result|ac3|bd3|proceed", out)
        self.assertEqual(reloads, before + 1)

    def test_no_smtpd_socket_routes_nothing(self):
        """Without smtpd's socket where it is said to be, no record can
        say which smtpd loaded the tables: enforce recipients get 451,
        said in the log; others proceed."""
        d = "nosocket.example"
        self.add_enforce(d)
        table = os.path.join(self.world.dir, "nosocket-table")
        gone = os.path.join(self.world.dir, "no-such.sock")
        p = subprocess.run(
            [FILTER, "--config", self.world.config, "--table", table,
             "--loaded", table + ".loaded", "--smtpd-socket", gone,
             "--reload", f"{MTASTS} smtpd-reload --table {table} --loaded "
             f"{table}.loaded --smtpctl /bin/true --smtpd-socket {gone}"],
            input="\n".join(CONFIG_LINES + [
                request("ad1", "be1", f"<bob@{d}>"),
                request("ad2", "be2", "<bob@plain.example>")]).encode() +
            b"\n", capture_output=True, timeout=60)
        out = p.stdout.decode()
        self.assertIn(f"filter-result|ad1|be1|reject|451 4.7.5 MTA-STS: "
                      f"routing {d}", out)
        self.assertIn("filter-result|ad2|be2|proceed", out)
        self.assertIn(f"no smtpd control socket at {gone}",
                      p.stderr.decode())

    def start_filter(self, table, reload=None):
        args = [FILTER, "--config", self.world.config, "--table", table,
                "--loaded", table + ".loaded",
                "--smtpd-socket", self.socket_path]
        if reload is not None:
            args += ["--reload", reload]
        p = subprocess.Popen(args, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        p.stdin.write(("\n".join(CONFIG_LINES) + "\n").encode())
        p.stdin.flush()
        return p

    def answer(self, p, session):
        """The next answer line from p, which must be session's."""
        for line in p.stdout:
            line = line.decode().rstrip("\n")
            if line.startswith("filter-result|"):
                self.assertTrue(line.startswith(f"filter-result|{session}|"),
                                line)
                return line
        self.fail("no answer for " + session)

    def send(self, p, session, address):
        p.stdin.write((request(session, "c0", address) + "\n").encode())
        p.stdin.flush()

    def end(self, p):
        p.stdin.close()
        p.stdout.read()
        err = p.stderr.read().decode()
        self.assertEqual(p.wait(60), 0, err)
        return err

    def test_killed_worker_leaves_no_reload_behind(self):
        """A worker killed (SIGKILL) while the reload it started runs:
        that session gets 451, the reload goes with the worker, the
        filter serves the next session."""
        d = "killed.example"
        self.add_enforce(d)
        pidfile = os.path.join(self.world.dir, "reload.pid")
        script = executable(
            os.path.join(self.world.dir, "slow-reload"),
            f"#!/bin/sh\necho $$ > {pidfile}.new\n"
            f"mv {pidfile}.new {pidfile}\nexec sleep 30\n")
        p = self.start_filter(os.path.join(self.world.dir, "killed-table"),
                              reload=script)
        self.send(p, "a1", f"<bob@{d}>")
        deadline = time.monotonic() + 20
        while not os.path.exists(pidfile) and time.monotonic() < deadline:
            time.sleep(0.02)
        with open(pidfile) as f:
            reload_pid = int(f.read())
        workers = children(p.pid)
        self.assertEqual(len(workers), 1, workers)
        os.kill(workers[0], signal.SIGKILL)
        self.assertIn("|a1|c0|reject|451 4.7.5 MTA-STS: no decision",
                      self.answer(p, "a1"))
        deadline = time.monotonic() + 5
        while alive(reload_pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertFalse(alive(reload_pid), "the reload outlived its worker")
        self.send(p, "a2", "<bob@plain.example>")
        self.assertEqual(self.answer(p, "a2"), "filter-result|a2|c0|proceed")
        err = self.end(p)
        self.assertIn("session a1: its process died of signal 9", err)

    def test_faulting_worker_costs_its_session_only(self):
        """A worker that faults (SIGSEGV, SIGBUS) while it waits on a
        hanging policy host: its session gets 451, the filter lives on
        and answers the others."""
        p = self.start_filter(os.path.join(self.world.dir, "fault-table"))
        for n, sig in enumerate((signal.SIGSEGV, signal.SIGBUS)):
            # a domain of its own: nothing cached says it is stalled
            session, d = f"f{n}", f"stall-fault{n}.example"
            self.world.add(d, site=dict(how="hang"))
            self.send(p, session, f"<bob@{d}>")
            deadline = time.monotonic() + 5
            while not children(p.pid) and time.monotonic() < deadline:
                time.sleep(0.01)
            worker = children(p.pid)[0]
            self.send(p, f"e{n}", "<bob@plain.example>")
            self.assertEqual(self.answer(p, f"e{n}"),
                             f"filter-result|e{n}|c0|proceed")
            # the library's fault guard takes a first fault outside the
            # cache back to the handler before it: the next one is fatal
            while alive(worker) and time.monotonic() < deadline:
                os.kill(worker, sig)
                time.sleep(0.05)
            self.assertIn(f"|{session}|c0|reject|451 4.7.5 MTA-STS: no "
                          "decision", self.answer(p, session))
        err = self.end(p)
        # under AddressSanitizer its handler takes the fault: exit 1, or
        # (abort_on_error) SIGABRT when it reports the fault itself
        asan = "AddressSanitizer" in err
        for session, sig in (("f0", 11), ("f1", 7)):
            self.assertRegex(err, rf"session {session}: its process (died "
                             rf"of signal {sig}|exited \(status 1\) "
                             r"unanswered" + ("|died of signal 6" if asan
                                             else "") + ")")

    def test_leftover_tables_of_dead_writers_are_removed(self):
        """The new tables a writer killed mid-write left (PATH.PID.tmp)
        are removed at the next write; a live writer's are kept."""
        d = "leftover.example"
        self.add_enforce(d)
        table = os.path.join(self.world.dir, "leftover-table")
        dead = subprocess.Popen(["true"])
        dead.wait()
        left = [f"{table}.{dead.pid}.tmp", f"{table}.routes.{dead.pid}.tmp"]
        kept = f"{table}.{os.getpid()}.tmp"
        for path in left + [kept]:
            with open(path, "w") as f:
                f.write("half a table\n")
        p = self.start_filter(table)
        self.send(p, "b1", f"<bob@{d}>")
        self.answer(p, "b1")
        self.end(p)
        self.assertIn(d + "\n", read(table))
        for path in left:
            self.assertFalse(os.path.exists(path), path)
        self.assertTrue(os.path.exists(kept))
        os.unlink(kept)

    def test_a_stalled_policy_host_holds_no_other_session(self):
        """Sessions to a domain whose policy host hangs wait for their
        own discovery; the others are answered meanwhile."""
        p = subprocess.Popen([FILTER, "--config", self.world.config,
                              "--table", os.path.join(self.world.dir, "t2"),
                              "--loaded", os.path.join(self.world.dir,
                                                       "t2.loaded"),
                              "--smtpd-socket", self.socket_path],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        sent = {}

        def send(session, domain):
            sent[session] = time.monotonic()
            p.stdin.write((request(session, "c0", f"<bob@{domain}>") +
                           "\n").encode())
            p.stdin.flush()

        p.stdin.write(("\n".join(CONFIG_LINES) + "\n").encode())
        for i in range(4):
            send(f"5a{i}", "stall.example")
        for i in range(20):
            send(f"f0{i:02d}", "plain.example")
        p.stdin.close()
        got = {}
        for line in p.stdout:
            m = RESULT.match(line.decode())
            if m:
                got[m.group(1)] = time.monotonic() - sent[m.group(1)]
        p.wait(60)
        p.stdout.close()
        fast = sorted(v for k, v in got.items() if k.startswith("f0"))
        slow = [v for k, v in got.items() if k.startswith("5a")]
        self.assertEqual((len(fast), len(slow)), (20, 4))
        sys.stderr.write(f"\nRCPT latency of 20 sessions to a domain "
                         f"without a policy while 4 wait on a hanging "
                         f"policy host: median {fast[10] * 1000:.0f} ms, "
                         f"max {fast[-1] * 1000:.0f} ms; the 4 waited "
                         f"{min(slow):.1f}-{max(slow):.1f} s\n")
        # each answered before any stalled one: not held behind them
        self.assertLess(max(fast), min(slow))

    def test_bad_command_line_still_answers(self):
        for args in (["--no-such-option"], ["--config", "/nonexistent"]):
            with self.subTest(args=args):
                p = subprocess.run(
                    [FILTER, *args], timeout=60, capture_output=True,
                    input="\n".join(CONFIG_LINES + [
                        request("ab9", "cd9", "bob@plain.example")])
                    .encode() + b"\n")
                self.assertEqual(p.returncode, 0)
                self.assertIn("filter-result|ab9|cd9|reject|451 4.7.5 "
                              "MTA-STS: filter-mtasts is not configured",
                              p.stdout.decode())

    def test_protocol_07(self):
        out, _, _, _ = self.run_filter(
            ["config|protocol|0.7", "config|ready",
             request("c1", "d1", "bob@plain.example", version="0.7")])
        self.assertIn("filter-result|c1|d1|proceed", out)

    def test_garbage_never_silences_it(self):
        lines = CONFIG_LINES + [
            "", "garbage", "filter", "filter|0.6", "|||||||",
            "report|0.6|1|smtp-in|link-connect|s|x|y|z",
            request("e1", "f1", "bob@plain.example", phase="helo"),
            request("e2", "f2", "bob@plain.example", phase="future-phase"),
            request("e3", "f3", ""),
            request("e4", "f4", "@"),
            request("e5", "f5", "x@" + "a" * 300),
            request("e6", "f6", "x@not..valid"),
            request("e7", "f7", "x@plain.example|extra|fields"),
            request("e8", "f8", "x@plain.example", version="9.9"),
        ]
        raw = (b"\x00\xff\xfe binary\n" + b"x" * 200000 + b"\n" +
               request("e9", "f9", "bob@plain.example").encode() + b"\n" +
               b"filter|0.6|1|smtp-in|rcpt-to|e10|f10|bob@plain.example")
        out, err, _, _ = self.run_filter(lines, raw)
        answered = [RESULT.match(a) for a in self.answers(out)]
        self.assertTrue(all(answered), out)
        self.assertEqual(sorted(m.group(1) for m in answered),
                         sorted(f"e{i}" for i in range(1, 10)), out)
        for line in out:
            self.assertRegex(line, r"^(register|filter-result)\|")

    def test_fuzzed_lines(self):
        # mutations of real lines: whatever arrives, every answer is well
        # formed, and each well-formed request gets exactly one
        rng = random.Random(8461)
        alphabet = "|\x00\xff@<>\r\t 0123456789abcdef.-:;" + "x" * 4
        seeds = CONFIG_LINES + [request("5e", "70", "bob@good.example"),
                                request("5e", "70", "bob@plain.example"),
                                "report|0.6|1|smtp-in|tx-rcpt|s0|m|ok|a@b"]
        lines, expected = list(CONFIG_LINES), 0
        for i in range(3000):
            line = list(rng.choice(seeds))
            for _ in range(rng.randint(1, 6)):
                at = rng.randrange(len(line) + 1)
                what = rng.random()
                if what < 0.4 and line:
                    del line[min(at, len(line) - 1)]
                elif what < 0.8:
                    line.insert(at, rng.choice(alphabet))
                else:
                    line[at:at] = list("|" * rng.randint(1, 3))
            text = "".join(line).replace("\n", "")
            lines.append(text)
            if well_formed(text):
                expected += 1
        out, _, _, _ = self.run_filter(lines)
        answers = self.answers(out)
        for a in answers:
            self.assertRegex(a, r"^filter-result\|[0-9a-f]+\|[0-9a-f]+\|"
                                r"(proceed|reject\|4\d\d [^\x00]*)$")
            self.assertLess(len(a), 2048)
        self.assertEqual(len(answers), expected)
        for line in out:
            self.assertRegex(line, r"^(register|filter-result)\|")

    def test_broken_configuration_defers_everything(self):
        with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
            f.write("[mtasts]\nbogus = 1\n")
            f.flush()
            p = subprocess.run([FILTER, "--config", f.name],
                               input="\n".join(CONFIG_LINES + [
                                   request("aa1", "bb1", "bob@good.example")])
                               .encode() + b"\n",
                               capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0)
        self.assertRegex(p.stdout.decode(),
                         r"filter-result\|aa1\|bb1\|reject\|451 4\.7\.5 "
                         r"MTA-STS: filter-mtasts is not configured")


class SmtpdReload(unittest.TestCase):
    """mtasts smtpd-reload: the record of what smtpd loaded never lists a
    domain smtpd does not route by the table, even while it loads."""

    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        d = self.dir.name
        self.table, self.loaded = f"{d}/table", f"{d}/loaded"
        self.seen, self.smtpctl = f"{d}/seen", f"{d}/smtpctl"
        with open(self.table, "w") as f:
            f.write("mtasts.invalid\na.example\nb.example\n")
        with open(self.loaded, "w") as f:  # of the running smtpd (none)
            f.write(HEADER + "mtasts.invalid\na.example\nc.example\n")

    def tearDown(self):
        self.dir.cleanup()

    def reload(self, status):
        executable(self.smtpctl,  # keeps what the record said
                   f"#!/bin/sh\ncp {self.loaded} {self.seen}\n"
                   f"echo command output\nexit {status}\n")
        return subprocess.run([MTASTS, "smtpd-reload", "--table",
                               self.table, "--loaded", self.loaded,
                               "--smtpctl", self.smtpctl],
                              capture_output=True, text=True, timeout=60)

    def test_loads_and_records(self):
        p = self.reload(0)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, "")  # smtpctl's output went to stderr
        self.assertEqual(read(self.seen),
                         HEADER + "mtasts.invalid\na.example\n")
        self.assertEqual(read(self.loaded), HEADER + read(self.table))

    def test_never_through_a_link_nor_other_lines(self):
        # root runs this where the mtasts group writes: a table that is a
        # link is refused, lines that are not domains are not copied
        secret = os.path.join(self.dir.name, "secret")
        with open(secret, "w") as f:
            f.write("root:$y$secret:19000::::::\n")
        os.unlink(self.table)
        os.symlink(secret, self.table)
        p = self.reload(0)
        self.assertEqual(p.returncode, 2)
        self.assertNotIn("secret", read(self.loaded))
        os.unlink(self.table)
        with open(self.table, "w") as f:
            f.write("a.example\nroot:$y$secret:19000::::::\n")
        self.assertEqual(self.reload(0).returncode, 0)
        self.assertEqual(read(self.loaded), HEADER + "a.example\n")

    def test_record_of_an_earlier_smtpd_is_not_carried_over(self):
        # a record made with another smtpd: nothing of it survives the
        # cut before the load (the running smtpd never loaded it)
        with open(self.loaded, "w") as f:
            f.write("# smtpd 1234.1700000000.0\nmtasts.invalid\n"
                    "a.example\n")
        p = self.reload(1)
        self.assertEqual(p.returncode, 2)
        self.assertEqual(read(self.seen), HEADER)
        self.assertEqual(read(self.loaded), HEADER)

    def test_failed_load_records_only_what_both_had(self):
        p = self.reload(1)
        self.assertEqual(p.returncode, 2)
        # the routes are loaded first: their load failed, the list's
        # was never tried
        self.assertIn("update table mtasts_routes failed", p.stderr)
        self.assertEqual(read(self.loaded),
                         HEADER + "mtasts.invalid\na.example\n")


if __name__ == "__main__":
    unittest.main()
