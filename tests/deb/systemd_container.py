"""systemd as PID 1 of the fresh system, so that the installed units run
as systemd runs them: their sandbox, user and paths (tools/fresh-check
runs the fresh system in a chroot, where there is no init).

It starts in new PID, mount, UTS and cgroup namespaces that share the
caller's network (the loopback world's DNS, policy hosts and Exim) and
file system.  Its root is the fresh system's, pivoted to rather than
chrooted into: systemd makes a user namespace for PrivateUsers=, which
the kernel refuses inside a chroot.  It boots nothing but the journal
(mtasts-test.target), and /proc/sys and /sys are read-only: the host's
kernel settings stay the host's."""
import os
import subprocess
import time

TARGET = "/etc/systemd/system/mtasts-test.target"
NEW_ROOT = "/run/mtasts-test-root"
BOOT = f"""set -e
mount --make-rprivate /
mkdir -p {NEW_ROOT}
mount --rbind / {NEW_ROOT}
cd {NEW_ROOT}
mount -t proc proc proc
mount --bind proc/sys proc/sys
mount -o remount,bind,ro proc/sys
mount -t sysfs -o ro sysfs sys
mount -t cgroup2 cgroup2 sys/fs/cgroup
mount -t tmpfs -o mode=0755 tmpfs run
mount -t tmpfs -o mode=1777 tmpfs tmp
mkdir -p .oldroot
pivot_root . .oldroot
umount -l /.oldroot
export container=mtasts-test
exec /lib/systemd/systemd --unit=mtasts-test.target
"""


class Systemd:
    def __init__(self):
        with open(TARGET, "w") as f:
            f.write("[Unit]\nDescription=the units a test starts, and "
                    "the journal\nDefaultDependencies=no\n"
                    "Wants=systemd-journald.service\n")
        self.proc = subprocess.Popen(
            ["unshare", "--pid", "--fork", "--mount", "--uts", "--cgroup",
             "--propagation", "private", "sh", "-c", BOOT])
        self.pid = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            children = self._children()
            if children:
                self.pid = children[0]
                p = self.run("systemctl", "is-system-running")
                if p.stdout.strip() in ("running", "degraded"):
                    return
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("systemd did not start in the container")

    def _children(self):
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/"
                      "children") as f:
                return [int(p) for p in f.read().split()]
        except OSError:
            return []

    def run(self, *cmd, timeout=120):
        """cmd inside the container (its root, /run and PID 1)."""
        return subprocess.run(
            ["nsenter", "-t", str(self.pid), "-m", "-p", "-r", "-w", *cmd],
            capture_output=True, text=True, timeout=timeout)

    def drop_in(self, unit, name, text):
        """A drop-in in the container's /run (gone with it)."""
        d = f"/run/systemd/system/{unit}.d"
        self.run("mkdir", "-p", d)
        self.run("sh", "-c", f"cat > {d}/{name}.conf <<'EOF'\n{text}\nEOF")
        self.run("systemctl", "daemon-reload")

    def start(self, unit):
        """Starts unit and waits for it (a oneshot: until it ended);
        returns (whether it succeeded, its journal)."""
        p = self.run("systemctl", "start", unit)
        log = self.run("journalctl", "--no-pager", "-o", "cat", "-u", unit)
        return p.returncode == 0, (p.stderr + log.stdout).strip()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.unlink(TARGET)
