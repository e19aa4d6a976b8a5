"""A redis-server of a test's own (Debian's, as tools/deps unpacks it, or
installed): on a unix socket in a directory, no port, nothing saved; and
redis-cli to look at it.  For the fleet's tests (test_fleet.py,
test_tlsrpt_fleet.py)."""
import os
import shutil
import socket
import subprocess
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


class Redis:
    """A redis-server on a unix socket in directory, no port, nothing
    saved."""

    def __init__(self, directory, password=None):
        os.makedirs(directory, exist_ok=True)
        self.socket = os.path.join(directory, "redis.sock")
        args = [REDIS_SERVER, "--port", "0", "--unixsocket", self.socket,
                "--save", "", "--appendonly", "no", "--dir", directory,
                "--logfile", "redis.log"]
        if password:
            args += ["--requirepass", password]
        self.password = password
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        for _ in range(500):
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(self.socket)
                return
            except OSError:
                time.sleep(0.01)
        raise RuntimeError("redis-server did not start")

    def cli(self, *args):
        env = dict(os.environ)
        if self.password:
            env["REDISCLI_AUTH"] = self.password
        return subprocess.run([REDIS_CLI, "-s", self.socket, *args],
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
