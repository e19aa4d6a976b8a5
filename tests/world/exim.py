"""A real Exim (Debian's exim4-daemon-heavy) for tests and the demo, with
its own configuration, spool and log, inside the test's mount namespace:
the configuration file is exim/exim.conf as shipped, included after the
macros that say where this world keeps things."""
import os
import pwd
import re
import shutil
import subprocess

from netns import bind

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXIM = "/usr/sbin/exim4"


class Exim:
    def __init__(self, directory, so, mtasts_config, ca_file,
                 config=os.path.join(REPO, "exim", "exim.conf")):
        self.dir = directory
        etc = os.path.join(directory, "etc")
        self.spool = os.path.join(directory, "spool")
        self.logdir = os.path.join(directory, "log")
        for d in (etc, self.spool, self.logdir):
            os.makedirs(d, exist_ok=True)
        user = pwd.getpwnam("Debian-exim")
        for d in (self.spool, self.logdir):
            os.chown(d, user.pw_uid, user.pw_gid)
        with open(os.path.join(etc, "exim4.conf"), "w") as f:
            f.write(f"MTASTS_SO = {so}\n"
                    f"MTASTS_CONFIG = {mtasts_config}\n"
                    f"MTASTS_CA = {ca_file}\n"
                    f"MTASTS_SPOOL = {self.spool}\n"
                    f"MTASTS_LOG = {self.logdir}/%slog\n"
                    f".include {config}\n")
        # the compiled-in configuration path is /etc/exim4/exim4.conf
        bind(etc, "/etc/exim4")

    def check_config(self):
        p = subprocess.run([EXIM, "-bV"], capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(p.stdout + p.stderr)

    def send(self, rcpt, sender="alice@client.example", subject="test"):
        """Submits a message and delivers it in the foreground; returns its
        message id."""
        msg = (f"From: {sender}\nTo: {rcpt}\nSubject: {subject}\n\n"
               f"Hello {rcpt}.\n")
        p = subprocess.run([EXIM, "-odf", "-v", "-f", sender, rcpt],
                           input=msg, capture_output=True, text=True,
                           timeout=120)
        m = re.search(r"\b([0-9A-Za-z]{6}-[0-9A-Za-z]{6}-[0-9A-Za-z]{2})\b",
                      p.stdout + p.stderr)
        return m.group(1) if m else None

    def queue(self):
        """Ids of the messages waiting in the queue."""
        p = subprocess.run([EXIM, "-bp"], capture_output=True, text=True)
        return re.findall(r"\b[0-9A-Za-z]{6}-[0-9A-Za-z]{6}-[0-9A-Za-z]{2}\b",
                          p.stdout)

    def run_queue(self):
        subprocess.run([EXIM, "-qff"], capture_output=True, timeout=120)

    def mainlog(self, msgid=None):
        path = os.path.join(self.logdir, "mainlog")
        if not os.path.exists(path):
            return ""
        with open(path) as f:
            lines = f.read().splitlines()
        if msgid is not None:
            lines = [l for l in lines if msgid in l]
        return "\n".join(lines)

    def paniclog(self):
        path = os.path.join(self.logdir, "paniclog")
        return open(path).read() if os.path.exists(path) else ""

    def stop(self):
        shutil.rmtree(self.spool, ignore_errors=True)
