"""Private network and mount namespaces for tests that need the real ports
(25, 53, 443) on loopback and their own /etc files."""
import os
import subprocess
import sys
import tempfile


def enter(addrconfig=False):
    """Re-executes this program inside new network and mount namespaces
    (once), then brings loopback up.  Needs root.

    addrconfig: also a veth pair holding 192.0.2.1/32 (TEST-NET-1, RFC
    5737), for programs whose getaddrinfo uses AI_ADDRCONFIG and finds no
    IPv4 address on loopback alone (OpenSMTPD's resolver).  No route leads
    anywhere from it: nothing is ever sent there."""
    if os.environ.get("MTASTS_IN_NETNS") != "1":
        env = dict(os.environ, MTASTS_IN_NETNS="1")
        os.execvpe("unshare", ["unshare", "--net", "--mount",
                               "--propagation", "private", "--",
                               sys.executable, *sys.argv], env)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    if addrconfig:
        for cmd in (["link", "add", "mtasts0", "type", "veth", "peer", "name",
                     "mtasts1"],
                    ["addr", "add", "192.0.2.1/32", "dev", "mtasts0"],
                    ["link", "set", "mtasts0", "up"],
                    ["link", "set", "mtasts1", "up"]):
            subprocess.run(["ip", *cmd], check=True)


_mounted = []


def bind(source, target, keep=False):
    """Puts source over target, for this namespace only, until
    unbind_all() (keep: for the namespace's life)."""
    if not os.path.exists(target):
        if os.path.isdir(source):
            os.makedirs(target, exist_ok=True)
        else:
            open(target, "a").close()
    subprocess.run(["mount", "--bind", source, target], check=True)
    if not keep:
        _mounted.append(target)


def tmpfs(target, keep=False):
    """An empty tmpfs over target, for this namespace only."""
    os.makedirs(target, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "none", target], check=True)
    if not keep:
        _mounted.append(target)


def overlay(path, *lower):
    """path made writable for this namespace only, with the directories
    lower laid over it (the first wins): files and directories the host
    lacks (Exim's, /etc/aliases) appear, and what is written there stays
    in the namespace (overlayfs, its upper layer a tmpfs).  Kept for the
    namespace's life: mount it before anything is bound inside path."""
    layer = tempfile.mkdtemp(prefix="mtasts-overlay-")
    subprocess.run(["mount", "-t", "tmpfs", "none", layer], check=True)
    for d in ("upper", "work"):
        os.mkdir(os.path.join(layer, d))
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                    f"lowerdir={':'.join([*lower, path])},"
                    f"upperdir={layer}/upper,workdir={layer}/work", path],
                   check=True)


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


def add_group(directory, name, members):
    """/etc/group with one more group (members: its supplementary
    members), as an operator's groupadd and adduser would make it."""
    path = os.path.join(directory, "group")
    with open("/etc/group") as f:
        lines = [line for line in f.read().splitlines()
                 if not line.startswith(name + ":")]
    gids = {int(line.split(":")[2]) for line in lines if line.count(":") >= 3}
    gid = next(g for g in range(900, 999) if g not in gids)
    lines.append(f"{name}:x:{gid}:{','.join(members)}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(path, 0o644)
    bind(path, "/etc/group")
