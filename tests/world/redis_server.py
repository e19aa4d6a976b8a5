"""A real redis-server for the fleet's tests (issue 26): Debian's, as
tools/deps unpacks it under /var/cache/mtasts-test/redis (or installed),
started by the test on a unix socket or a loopback port, nothing saved;
and a server that speaks no Redis at all.  For the fleet's tests
(test_fleet.py, test_tlsrpt_fleet.py, tests/e2e/test_fleet.py)."""
import os
import shutil
import socket
import subprocess
import threading
import time

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


def available():
    return bool(REDIS_SERVER and REDIS_CLI)


class Redis:
    """A redis-server in directory, nothing saved (no RDB, no AOF): on a
    unix socket without port, or (port) on 127.0.0.1:port alone."""

    def __init__(self, directory, password=None, port=None, args=()):
        os.makedirs(directory, exist_ok=True)
        self.dir, self.password, self.port = directory, password, port
        self.args = list(args)  # more of redis-server's options
        self.socket = os.path.join(directory, "redis.sock")
        self.start()

    def start(self):
        """Starts it (again: empty, as a Redis without persistence comes
        back after a restart)."""
        args = [REDIS_SERVER, "--save", "", "--appendonly", "no",
                "--dir", self.dir, "--logfile", "redis.log", *self.args]
        if self.port is None:
            args += ["--port", "0", "--unixsocket", self.socket]
        else:
            args += ["--port", str(self.port), "--bind", "127.0.0.1"]
        if self.password:
            args += ["--requirepass", self.password]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        for _ in range(500):
            try:
                if self.port is None:
                    with socket.socket(socket.AF_UNIX) as s:
                        s.connect(self.socket)
                else:
                    socket.create_connection(("127.0.0.1", self.port),
                                             1).close()
                return
            except OSError:
                time.sleep(0.01)
        raise RuntimeError("redis-server did not start")

    @property
    def url(self):
        """The fleet setting that names it."""
        if self.port is None:
            return f"redis+unix://{self.socket}"
        return f"redis://127.0.0.1:{self.port}"

    def cli(self, *args):
        env = dict(os.environ)
        if self.password:
            env["REDISCLI_AUTH"] = self.password
        where = (["-s", self.socket] if self.port is None else
                 ["-h", "127.0.0.1", "-p", str(self.port)])
        return subprocess.run([REDIS_CLI, *where, *args],
                              capture_output=True, text=True, env=env,
                              check=True, timeout=10).stdout

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

    def restart_empty(self):
        self.stop()
        self.start()


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
