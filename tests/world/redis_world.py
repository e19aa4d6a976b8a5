"""Redis for the fleet's tests (issue 26): Debian's redis-server as
tools/deps unpacks it - a server on a unix socket (and a loopback port
when asked), a replica of another, a sentinel - servers that speak no
Redis, and the nodes' helpers the fleet's tests share (Nodes): for
test_fleet.py, test_fleet_sentinel.py, test_tlsrpt_fleet.py,
tests/e2e/test_fleet.py and tests/bench/fleet.py."""
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import unittest

from https_server import Site
from world import with_settings

UNPACKED = "/var/cache/mtasts-test/redis/usr/bin"  # tools/deps puts it


def redis_tool(name):
    """Debian's redis-server/redis-cli: as tools/deps unpacks them, or
    installed."""
    path = os.path.join(UNPACKED, name)
    if os.access(path, os.X_OK):
        return path
    return shutil.which(name)


REDIS_SERVER = os.environ.get("MTASTS_REDIS_SERVER") or redis_tool(
    "redis-server")
REDIS_CLI = redis_tool("redis-cli")
# a test class that needs them
needs_redis = unittest.skipUnless(
    bool(REDIS_SERVER and REDIS_CLI),
    "no redis-server/redis-cli: tools/deps unpacks Debian's into " + UNPACKED)


def redis_cli(args, password=None):
    """redis-cli's output, the password given in its environment (never
    on its command line)."""
    env = dict(os.environ)
    if password:
        env["REDISCLI_AUTH"] = password
    return subprocess.run([REDIS_CLI, *args], capture_output=True, text=True,
                          env=env, check=True, timeout=10).stdout


def free_port():
    """A loopback TCP port nobody listens on (now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, what, timeout=10):
    """Polls check() until it is true: its value, or an error after
    timeout seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise RuntimeError(what)


def available():
    return bool(REDIS_SERVER and REDIS_CLI)


class Redis:
    """A redis-server on a unix socket in directory (and on 127.0.0.1:port
    when port is given; a replica of replicaof, a (host, port); args: more
    of its options), nothing saved (no RDB, no AOF)."""

    def __init__(self, directory, password=None, port=None, replicaof=None,
                 args=()):
        os.makedirs(directory, exist_ok=True)
        self.socket = os.path.join(directory, "redis.sock")
        self.port = port
        self.args = [REDIS_SERVER, "--port", str(port or 0),
                     "--unixsocket", self.socket, "--save", "",
                     "--appendonly", "no", "--dir", directory,
                     "--logfile", "redis.log", *args]
        if port:
            self.args += ["--bind", "127.0.0.1"]
        if replicaof:
            self.args += ["--replicaof", replicaof[0], str(replicaof[1])]
        if password:
            self.args += ["--requirepass", password]
        self.password = password
        self.start()

    def start(self):
        """Starts it (again: empty, as a Redis without persistence comes
        back after a restart)."""
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL)
        wait_for(self._up, "redis-server did not start", 5)

    def restart_empty(self):
        self.stop()
        self.start()

    @property
    def url(self):
        """The fleet setting that names it (its port when it has one)."""
        if self.port:
            return f"redis://127.0.0.1:{self.port}"
        return f"redis+unix://{self.socket}"

    def _up(self):
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(self.socket)
            return True
        except OSError:
            return False

    def cli(self, *args):
        return redis_cli(["-s", self.socket, *args], self.password)

    def stats(self):
        """INFO's counters, as ints where they are."""
        out = {}
        for line in self.cli("INFO", "all").splitlines():
            if ":" in line and not line.startswith("#"):
                k, v = line.split(":", 1)
                out[k] = int(v) if v.strip().isdigit() else v.strip()
        return out

    def stop(self):
        self.proc.kill()
        self.proc.wait()


class Sentinel:
    """Debian's redis-server in Sentinel mode (redis-server CONF
    --sentinel: what the redis-sentinel package's binary is) on
    127.0.0.1:port, watching master (a Redis on a port) as name, with a
    quorum of 1 and a failover after 3 seconds of silence (a window
    long enough for a test's lookups; and requirepass with password)."""

    def __init__(self, directory, master, name="mymaster", password=None):
        os.makedirs(directory, exist_ok=True)
        self.port = free_port()
        conf = os.path.join(directory, "sentinel.conf")
        with open(conf, "w") as f:  # sentinel rewrites its file
            f.write(f"port {self.port}\nbind 127.0.0.1\n"
                    f"dir {directory}\nlogfile sentinel.log\n"
                    f"sentinel monitor {name} 127.0.0.1 {master.port} 1\n"
                    f"sentinel down-after-milliseconds {name} 3000\n"
                    f"sentinel failover-timeout {name} 5000\n" +
                    (f"requirepass {password}\n" if password else ""))
        self.password = password
        self.proc = subprocess.Popen([REDIS_SERVER, conf, "--sentinel"],
                                     stdout=subprocess.DEVNULL)
        wait_for(self._up, "redis-server --sentinel did not start", 5)

    def _up(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), 1).close()
            return True
        except OSError:
            return False

    def cli(self, *args):
        return redis_cli(["-p", str(self.port), *args], self.password)

    def stop(self):
        self.proc.kill()
        self.proc.wait()


class Garbage:
    """A TCP server on loopback that speaks no Redis: it answers every
    connection with bytes (or, with silent, with nothing)."""

    def __init__(self, answer=b"", silent=False):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.answer, self.silent = answer, silent
        self.conns = []
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self._answer, args=(c,),
                             daemon=True).start()

    def _answer(self, c):
        if not self.silent:
            try:
                c.recv(4096)
                c.sendall(self.answer)
            except OSError:
                pass

    def stop(self):
        self.sock.close()
        for c in self.conns:
            c.close()


class Stream(Garbage):
    """A TCP server on loopback that answers a command with head, then
    with what feed yields, until the client goes or the test ends."""

    def __init__(self, head, feed):
        self.head, self.feed = head, feed
        self.stopped = False
        super().__init__()

    def _answer(self, c):
        try:
            c.recv(4096)
            c.sendall(self.head)
            for chunk in self.feed():
                if self.stopped:
                    return
                c.sendall(chunk)
        except OSError:
            pass

    def stop(self):
        self.stopped = True
        super().stop()


def drip(byte, every):
    """One byte every so often: each read() is quick, the reply never
    ends."""
    while True:
        time.sleep(every)
        yield byte


def flood(chunk, total):
    """total bytes as fast as the client takes them, then silence."""
    for _ in range(total // len(chunk)):
        yield chunk


class Nodes:
    """A fleet test's nodes, for a unittest.TestCase with self.world and
    a fleet_url(): each node a configuration with a cache of its own."""

    def node(self, name, fleet=True, **settings):
        """The configuration of one node: the world's, with a cache of
        its own and the fleet's settings (fleet: True for the test's,
        a URL, or False for none)."""
        with open(self.world.config) as f:
            text = f.read()
        lines = [f"cache_dir = {os.path.join(self.world.dir, name)}"]
        if fleet:
            lines.append(
                f"fleet = {self.fleet_url() if fleet is True else fleet}")
        lines += [f"{k} = {v}" for k, v in settings.items()]
        path = os.path.join(self.world.dir, name + ".conf")
        with open(path, "w") as f:
            f.write(with_settings(text, "\n".join(lines)))
        return path

    def lookup(self, config, domain, timeout=60):
        p = subprocess.run([os.environ["MTASTS"], "lookup", domain,
                            "--config", config, "--json"],
                           capture_output=True, timeout=timeout)
        self.assertIn(p.returncode, (0, 1), p.stderr.decode())
        r = json.loads(p.stdout)
        r["_stderr"] = p.stderr.decode()
        return r

    def strip(self, domain):
        """An attacker strips the TXT record; the policy host says 404."""
        self.world.zone.remove("_mta-sts." + domain, "TXT")
        host = "mta-sts." + domain
        self.world.https.sites[host] = Site(
            status=404, body="gone", cert=self.world.https.sites[host].cert)
