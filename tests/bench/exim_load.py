"""Exim under load (issue 23 part 7): a real Exim (Debian's
exim4-daemon-heavy) with exim.conf as shipped and a cold policy cache,
hundreds of messages to 60 policy domains and 20 without, submitted in
concurrent SMTP sessions and by `exim -odq`, all queued, then delivered by
concurrent queue runners (`exim -q`).  As root:

  /usr/bin/python3 tests/bench/exim_load.py [--messages 300] [--runners 4]
      [--sessions 20] [--deadline 120] [--seed 23]

The domains: enforce with a good MX (verified STARTTLS), enforce whose MX
offers no STARTTLS, enforce whose certificate names another host, enforce
with a rogue MX preferred over the policy's one (mx.attacker.example, not
in the policy), testing with a good MX and testing with an MX without
STARTTLS; 20 domains without a policy, their MX without STARTTLS.  Each
message has 1-3 recipients in distinct domains; every domain gets mail.
Half the messages come in --sessions concurrent SMTP sessions to an Exim
daemon started with -odq (queue only), the other half from as many
concurrent `exim -odq` commands.  Then --runners `exim -q` run at once
against the cold cache, within --deadline seconds.

Asserted (the run fails, printing what went wrong, otherwise): every
recipient was delivered exactly once at the sink its policy allows, over
verified TLS under enforce (and testing with a good MX), in the clear
where there is no policy or testing met an MX without STARTTLS; or it is
still queued, deferred, and at no sink (enforce: no STARTTLS, wrong
certificate); nothing reached the attacker's sink; each policy host was
fetched exactly once, and no host without a policy; no panic log, no
"crashed with signal", no lost message.  Measured: the time to drain the
queue, recipients per second, the policy fetches, and each delivered
recipient's delay from the queue runners' start to its arrival at the
sink (sampled every 0.1 s; Exim's log has whole seconds only): median and
95th percentile.  Runs in about 20 s on 2 cores (needs root: private
namespaces)."""
import argparse
import os
import random
import re
import signal
import smtplib
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "world"))
import netns  # noqa: E402

netns.enter()

from exim import EXIM, Exim, minimal_config  # noqa: E402
from mail_world import (ATTACKER, GOOD, PLAIN, PLAIN2, ROGUE, WRONG,  # noqa
                        MailWorld)

BUILD = os.path.join(HERE, "..", "..", "build")
SENDER = "alice@client.example"
SMTP_PORT = 2525  # the daemon's; the sinks hold port 25

# kind -> (count, mode, MX sink, extra MX, expected: (sink, tls) or None
# for deferred)
KINDS = {
    "enforce-good": (22, "enforce", GOOD, (), (GOOD, True)),
    "enforce-plain": (8, "enforce", PLAIN, (), None),
    "enforce-wrongcert": (4, "enforce", WRONG, (), None),
    "enforce-rogue": (12, "enforce", GOOD, (ATTACKER,), (GOOD, True)),
    "testing-good": (7, "testing", GOOD, (), (GOOD, True)),
    "testing-plain": (7, "testing", PLAIN2, (), (PLAIN2, False)),
    "nopolicy": (20, None, PLAIN2, (), (PLAIN2, False)),
}


def domains():
    """{domain: (kind, mode, sink, extra MX...)}"""
    out = {}
    for kind, (count, mode, sink, extra, _) in KINDS.items():
        for i in range(count):
            out[f"{kind}{i}.example"] = (kind, mode, sink, *extra)
    return out


def messages(doms, count, rng):
    """[[recipient...]]: 1-3 recipients in distinct domains, every domain
    in the first ones."""
    names = list(doms)
    order = names[:]
    rng.shuffle(order)
    out = []
    for n in range(count):
        k = rng.choices((1, 2, 3), weights=(45, 35, 20))[0]
        picked = []
        while order and len(picked) < k:
            picked.append(order.pop())
        picked += rng.sample([d for d in names if d not in picked],
                             k - len(picked))
        out.append([f"r{n}x{j}@{d}" for j, d in enumerate(picked)])
    return out


def body(n, rcpts):
    return (f"From: {SENDER}\r\nTo: {', '.join(rcpts)}\r\n"
            f"Subject: load {n}\r\n\r\nHello, message {n}.\r\n")


def submit_local(n, rcpts):
    p = subprocess.run([EXIM, "-odq", "-f", SENDER, *rcpts],
                       input=body(n, rcpts).replace("\r\n", "\n"),
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError(f"exim -odq: {p.returncode} {p.stderr}")


def submit_smtp(batch):
    with smtplib.SMTP("127.0.0.1", SMTP_PORT, timeout=60) as s:
        s.ehlo("client.example")
        for n, rcpts in batch:
            refused = s.sendmail(SENDER, rcpts, body(n, rcpts))
            if refused:
                raise RuntimeError(f"refused: {refused}")


class Arrivals:
    """Polls the sinks: when each recipient first arrived (monotonic)."""

    def __init__(self, sinks):
        self.sinks = sinks
        self.seen = {address: 0 for address in sinks}
        self.when = {}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def poll(self):
        now = time.monotonic()
        for address, sink in self.sinks.items():
            with sink.lock:
                new = sink.messages[self.seen[address]:]
                self.seen[address] = len(sink.messages)
            for m in new:
                for r in m.recipients:
                    self.when.setdefault(r.lower(), now)

    def _run(self):
        while not self.stopping.wait(0.1):
            self.poll()

    def stop(self):
        self.stopping.set()
        self.thread.join()
        self.poll()


def queued_recipients(exim):
    """Recipients not yet delivered in the queue (exim -bp)."""
    p = subprocess.run([EXIM, "-bp"], capture_output=True, text=True)
    out = set()
    for line in p.stdout.splitlines():
        if line.startswith(" ") and line.strip() and \
                not line.strip().startswith("D "):
            out.add(line.strip().lower())
    return out


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=300)
    ap.add_argument("--runners", type=int, default=4)
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--deadline", type=float, default=120)
    ap.add_argument("--seed", type=int, default=23)
    args = ap.parse_args()

    doms = domains()
    mail = MailWorld({d: spec[1:] for d, spec in doms.items()},
                     extra_config="cache_group = mtasts\n")
    w = mail.world
    # the cache shared as the README says: a group mtasts, Debian-exim a
    # supplementary member of it
    netns.add_group(w.dir, "mtasts", ["Debian-exim"])
    exim = Exim(os.path.join(w.dir, "exim"), minimal_config(
        os.path.join(BUILD, "exim", "exim.conf"),
        os.path.join(BUILD, "exim", "mtasts_exim.so"), w.config,
        w.ca.cert_file))
    problems = []
    daemon = runners = None
    try:
        msgs = messages(doms, args.messages, random.Random(args.seed))
        expect = {}  # recipient -> (sink, tls) or None
        for rcpts in msgs:
            for r in rcpts:
                expect[r] = KINDS[doms[r.split("@")[1]][0]][4]
        numbered = list(enumerate(msgs))
        by_smtp, by_cmd = numbered[::2], numbered[1::2]

        # submission: concurrent SMTP sessions to a queue-only daemon,
        # concurrent exim -odq commands
        daemon = subprocess.Popen(
            [EXIM, "-bdf", "-odq", "-oX", str(SMTP_PORT),
             "-oP", os.path.join(w.dir, "exim.pid")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                smtplib.SMTP("127.0.0.1", SMTP_PORT, timeout=5).quit()
                break
            except OSError:
                time.sleep(0.1)
        start = time.monotonic()
        sessions = max(1, args.sessions)
        with ThreadPoolExecutor(sessions) as pool:
            jobs = [pool.submit(submit_smtp, by_smtp[i::sessions])
                    for i in range(sessions)]
            jobs += [pool.submit(submit_local, n, r) for n, r in by_cmd]
            for j in jobs:
                j.result()
        submitted = time.monotonic() - start
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(10)
        daemon = None
        queued = len(exim.queue())
        if queued != len(msgs):
            problems.append(f"{queued} messages queued of {len(msgs)}")
        early = sum(w.fetches(d) for d in doms)
        if early:
            problems.append(f"{early} policy fetches before delivery")

        # delivery: concurrent queue runners against the cold cache
        arrivals = Arrivals(mail.sinks)
        start = time.monotonic()
        runners = [subprocess.Popen([EXIM, "-q"], start_new_session=True,
                                    stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, text=True)
                   for _ in range(args.runners)]
        late = []
        for p in runners:
            try:
                p.wait(max(0.1, args.deadline - (time.monotonic() - start)))
            except subprocess.TimeoutExpired:
                late.append(p.pid)
                os.killpg(p.pid, signal.SIGKILL)  # its own group
                p.wait()
        drained = time.monotonic() - start
        # a delivery process may outlive its runner by a moment
        time.sleep(0.5)
        arrivals.stop()
        errors = [p.stderr.read().strip() for p in runners]
        runners = None
        if late:
            problems.append(f"queue runners past the {args.deadline:.0f} s "
                            f"deadline, killed: {late}")
        problems += [f"exim -q said: {e}" for e in errors if e]

        # what every sink got
        got = {}  # recipient -> [(sink, tls)]
        for address, sink in mail.sinks.items():
            for m in sink.received():
                for r in m.recipients:
                    got.setdefault(r.lower(), []).append((address, m.tls))
        waiting = queued_recipients(exim)
        log = exim.mainlog()
        delivered = {}  # recipient -> its => line
        deferred = set()
        for line in log.splitlines():
            m = re.match(r"\S+ \S+ \S+ (=>|->|==|\*\*) (\S+)", line)
            if m is None:
                continue
            if m.group(1) in ("=>", "->"):
                delivered.setdefault(m.group(2).lower(), []).append(line)
            elif m.group(1) == "==":
                deferred.add(m.group(2).lower())
            else:
                problems.append(f"bounced: {line}")
        wrong = []
        for r, want in expect.items():
            r = r.lower()
            at = got.get(r, [])
            if want is None:
                if at or r in delivered or r not in waiting or \
                        r not in deferred:
                    wrong.append(f"{r}: want deferred and queued, at sinks "
                                 f"{at}, queued {r in waiting}, "
                                 f"logged {delivered.get(r)}")
            else:
                lines = delivered.get(r, [])
                if at != [want] or len(lines) != 1 or r in waiting or \
                        (want[1] and "CV=yes" not in lines[0]):
                    wrong.append(f"{r}: want {want}, at sinks {at}, "
                                 f"queued {r in waiting}, logged {lines}")
        if wrong:
            problems.append(f"{len(wrong)} recipients wrong:\n  " +
                            "\n  ".join(wrong[:20]))
        stray = set(got) - {r.lower() for r in expect}
        if stray:
            problems.append(f"unexpected recipients at sinks: {stray}")
        rogue = len(mail.sinks[ROGUE].received())
        if rogue:
            problems.append(f"{rogue} messages at the attacker's sink")
        fetches = {d: w.fetches(d) for d in doms}
        bad = {d: n for d, n in fetches.items()
               if n != (1 if doms[d][1] else 0)}
        if bad:
            problems.append(f"policy fetches not one per policy domain: "
                            f"{bad}")
        panic = exim.paniclog().strip()
        if panic:
            problems.append(f"panic log:\n{panic}")
        for pat in ("crashed with signal", "lost", "Unexpected",
                    "temporarily rejected"):
            hits = [line for line in log.splitlines() if pat in line]
            if hits:
                problems.append(f"{len(hits)} log lines '{pat}':\n  " +
                                "\n  ".join(hits[:10]))

        n_rcpt = len(expect)
        n_deliv = sum(1 for r, want in expect.items() if want)
        n_defer = n_rcpt - n_deliv
        delays = [arrivals.when[r.lower()] - start
                  for r, want in expect.items()
                  if want and r.lower() in arrivals.when]
        tls = sum(1 for r, want in expect.items() if want and want[1])
        print(f"submitted {len(msgs)} messages ({n_rcpt} recipients, "
              f"{len(by_smtp)} in {sessions} concurrent SMTP sessions, "
              f"{len(by_cmd)} by concurrent exim -odq) in "
              f"{submitted:.1f} s; {len(doms)} domains: " +
              ", ".join(f"{k} {v[0]}" for k, v in KINDS.items()))
        print(f"{args.runners} concurrent exim -q, cold cache: drained in "
              f"{drained:.1f} s; {n_deliv} recipients delivered "
              f"({tls} over verified TLS, {n_deliv - tls} in the clear "
              f"where allowed), {n_defer} deferred under enforce; "
              f"{n_deliv / drained:.1f} delivered recipients per second "
              f"({n_rcpt / drained:.1f} handled)")
        if delays:
            print(f"delay from the runners' start to the sink: median "
                  f"{statistics.median(delays):.1f} s, p95 "
                  f"{percentile(delays, 0.95):.1f} s, max "
                  f"{max(delays):.1f} s")
        print(f"policy fetches: {sum(fetches.values())} for "
              f"{sum(1 for d in doms if doms[d][1])} policy domains "
              f"(max {max(fetches.values())} for one); attacker's sink "
              f"{rogue}; panic log {len(panic.splitlines())} lines")
        if os.environ.get("EXIM_LOAD_LOG"):
            with open(os.environ["EXIM_LOAD_LOG"], "w") as f:
                f.write(log + "\n--- paniclog\n" + panic)
        verdict = "OK" if not problems else f"FAILED ({len(problems)})"
        print(f"exim_load {verdict}: {len(msgs)} messages, {n_rcpt} "
              f"recipients, {args.runners} runners: drained in "
              f"{drained:.1f} s, {n_deliv / drained:.1f} rcpt/s, delay "
              f"median {statistics.median(delays) if delays else 0:.1f} s "
              f"p95 {percentile(delays, 0.95) if delays else 0:.1f} s, "
              f"{sum(fetches.values())} fetches for "
              f"{sum(1 for d in doms if doms[d][1])} policy domains, "
              f"{n_defer} deferred, {rogue} at the attacker's sink",
              flush=True)
        for p in problems:
            print("PROBLEM: " + p, flush=True)
        return 1 if problems else 0
    finally:
        if daemon is not None:
            daemon.kill()
            daemon.wait()
        for p in runners or ():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        netns.unbind_all()
        mail.stop()


if __name__ == "__main__":
    sys.exit(main())
