"""Private network and mount namespaces for tests that need the real ports
(25, 53, 443) on loopback and their own /etc files."""
import os
import subprocess
import sys


def enter():
    """Re-executes this program inside new network and mount namespaces
    (once), then brings loopback up.  Needs root."""
    if os.environ.get("MTASTS_IN_NETNS") != "1":
        env = dict(os.environ, MTASTS_IN_NETNS="1")
        os.execvpe("unshare", ["unshare", "--net", "--mount",
                               "--propagation", "private", "--",
                               sys.executable, *sys.argv], env)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)


_mounted = []


def bind(source, target):
    """Puts source over target, for this namespace only, until
    unbind_all()."""
    if not os.path.exists(target):
        if os.path.isdir(source):
            os.makedirs(target, exist_ok=True)
        else:
            open(target, "a").close()
    subprocess.run(["mount", "--bind", source, target], check=True)
    _mounted.append(target)


def unbind_all():
    """Takes back every bind(), newest first."""
    while _mounted:
        subprocess.run(["umount", _mounted.pop()], check=False)


def use_resolver(directory, address="127.0.0.1"):
    """/etc/resolv.conf naming the test DNS server."""
    path = os.path.join(directory, "resolv.conf")
    with open(path, "w") as f:
        f.write(f"nameserver {address}\noptions attempts:1 timeout:2\n")
    bind(path, "/etc/resolv.conf")
