"""A real Exim (Debian's exim4-daemon-heavy) for tests and the demo, inside
the caller's mount namespace: its configuration goes over /etc/exim4, its
spool and log directories over /var/spool/exim4 and /var/log/exim4.

Exim is never installed as a package (it conflicts with every other MTA:
installing it removed a host's Postfix): tools/deps unpacks Debian's
exim4-daemon-heavy, exim4-base and exim4-config into PKG, and importing
this module in a private mount namespace (netns.enter) lays them over
/usr/sbin and /etc there (netns.overlay: what is written there stays in
the namespace), gives Exim's compiled-in spool and log directories a
tmpfs, and adds its user Debian-exim to the namespace's /etc/passwd and
/etc/group when the host has none.  The host itself is not touched.

Two ways to configure it, as an operator would: the complete configuration
exim.conf as built (minimal_config), or Debian's split configuration with
the conf.d snippets dropped in and update-exim4.conf run (debian_config)."""
import os
import pwd
import re
import shutil
import subprocess
import tempfile

from netns import bind, overlay, tmpfs

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PKG = "/var/cache/mtasts-test/exim"
EXIM = "/usr/sbin/exim4"  # within the namespace: PKG's
# Exim's message ids: 4.97 and later (Debian 13's 4.98) write the longer
# form, 4.96 (Debian 12) the shorter
MSGID = (r"\b[0-9A-Za-z]{6}-(?:[0-9A-Za-z]{11}-[0-9A-Za-z]{4}|"
         r"[0-9A-Za-z]{6}-[0-9A-Za-z]{2})\b")


def available():
    """Whether tools/deps unpacked Exim (and this is root)."""
    return os.geteuid() == 0 and os.path.exists(PKG + EXIM)


def _add_exim_user():
    """Debian-exim in this namespace's /etc/passwd and /etc/group, as
    exim4-base's postinst makes it, when the host has none."""
    try:
        pwd.getpwnam("Debian-exim")
        return
    except KeyError:
        pass
    work = tempfile.mkdtemp(prefix="mtasts-exim-users-")
    os.chmod(work, 0o755)
    with open("/etc/passwd") as f:
        uids = {int(line.split(":")[2]) for line in f if line.count(":") > 3}
    with open("/etc/group") as f:
        gids = {int(line.split(":")[2]) for line in f if line.count(":") > 2}
    uid = next(n for n in range(120, 999) if n not in uids)
    gid = next(n for n in range(120, 999) if n not in gids)
    for name, line in (
            ("passwd", f"Debian-exim:x:{uid}:{gid}::/var/spool/exim4:"
                       "/usr/sbin/nologin\n"),
            ("group", f"Debian-exim:x:{gid}:\n")):
        path = os.path.join(work, name)
        with open(f"/etc/{name}") as src, open(path, "w") as f:
            f.write(src.read() + line)
        os.chmod(path, 0o644)
        bind(path, f"/etc/{name}", keep=True)


def _exim_user():
    """Debian-exim, laid over this namespace's /etc/passwd again if a
    later overlay of /etc (OpenSMTPD's, in a fleet's test) hid the one
    made at import; never outside the tests' namespace."""
    if os.environ.get("MTASTS_IN_NETNS") == "1":
        _add_exim_user()
    return pwd.getpwnam("Debian-exim")


def _use_unpacked():
    if os.environ.get("MTASTS_IN_NETNS") != "1" or not available():
        return
    overlay("/usr/sbin", PKG + "/usr/sbin")
    overlay("/etc", PKG + "/etc")
    for d in ("/var/spool", "/var/log"):
        tmpfs(d, keep=True)
    for d in ("/var/spool/exim4", "/var/log/exim4"):
        os.makedirs(d)
    _add_exim_user()


_use_unpacked()


def macros(so, mtasts_config, ca_file):
    return (f"MTASTS_SO = {so}\nMTASTS_CONFIG = {mtasts_config}\n"
            f"MTASTS_CA = {ca_file}\n")


def minimal_config(exim_conf, so, mtasts_config, ca_file):
    """exim.conf as shipped, after the macros that place this world."""
    return macros(so, mtasts_config, ca_file) + f".include {exim_conf}\n"


def debian_config(so, mtasts_config, ca_file, built):
    """Debian's conf.d (an Internet site, split configuration) with the
    mtasts snippets copied in as installed (the macros with the paths of
    the build in directory built), through update-exim4.conf."""
    work = tempfile.mkdtemp(prefix="mtasts-confd-")
    shutil.copytree("/etc/exim4/conf.d", os.path.join(work, "conf.d"))
    for part, src in (
            ("main/02_mtasts_macros", os.path.join(built, "02_mtasts_macros")),
            ("router/190_mtasts",
             os.path.join(REPO, "exim", "conf.d", "router", "190_mtasts")),
            ("transport/30_mtasts",
             os.path.join(REPO, "exim", "conf.d", "transport", "30_mtasts"))):
        shutil.copy(src, os.path.join(work, "conf.d", part))
    with open(os.path.join(work, "conf.d", "main", "00_local_macros"),
              "w") as f:
        # this world's MX hosts live on loopback, which Debian ignores
        f.write(macros(so, mtasts_config, ca_file) +
                "ROUTER_DNSLOOKUP_IGNORE_TARGET_HOSTS = <; 0.0.0.0\n")
    with open(os.path.join(work, "update-exim4.conf.conf"), "w") as f:
        f.write("dc_eximconfig_configtype='internet'\n"
                "dc_other_hostnames=''\ndc_local_interfaces='127.0.0.1'\n"
                "dc_relay_domains=''\ndc_relay_nets=''\ndc_smarthost=''\n"
                "dc_minimaldns='false'\ndc_use_split_config='true'\n"
                "dc_localdelivery='mail_spool'\n")
    out = os.path.join(work, "exim4.conf")
    subprocess.run(["update-exim4.conf", "-d", work, "-o", out], check=True)
    with open(out) as f:
        text = f.read()
    shutil.rmtree(work)
    return text


def tlsrpt_spool():
    """A TLS-RPT spool as mtasts-exim makes it (tlsrpt_spool in
    mtasts.conf(5)): Exim's group writes it, its owner (here root) reads
    it, nobody else gets in.  Returns (the directory to remove, the
    spool)."""
    parent = tempfile.mkdtemp(prefix="mtasts-spool-")
    os.chmod(parent, 0o711)
    spool = os.path.join(parent, "spool")
    os.mkdir(spool)
    os.chown(spool, 0, _exim_user().pw_gid)
    os.chmod(spool, 0o2730)
    return parent, spool


class Exim:
    """One Exim.  By default its directories are laid over Exim's own in
    the caller's mount namespace (one Exim at a time); private: each of
    its commands runs in a mount namespace of its own where they are, so
    that several Exims (a fleet's nodes) run side by side, each with its
    configuration, spool and log."""

    def __init__(self, directory, config_text, private=False):
        self.dir = directory
        self.private = private
        etc = os.path.join(directory, "etc")
        self.spool = os.path.join(directory, "spool")
        self.logdir = os.path.join(directory, "log")
        for d in (etc, self.spool, self.logdir):
            os.makedirs(d, exist_ok=True)
        user = _exim_user()
        for d in (self.spool, self.logdir):
            os.chown(d, user.pw_uid, user.pw_gid)
        self.config_file = os.path.join(etc, "exim4.conf")
        self.configure(config_text)
        self.binds = ((etc, "/etc/exim4"), (self.spool, "/var/spool/exim4"),
                      (self.logdir, "/var/log/exim4"))
        if not private:
            for source, target in self.binds:
                bind(source, target)
        p = subprocess.run(self.command("-bV"), capture_output=True,
                           text=True)
        if p.returncode != 0:
            raise RuntimeError(p.stdout + p.stderr)

    def command(self, *args):
        """The command line that runs Exim with args, as this Exim."""
        if not self.private:
            return [EXIM, *args]
        # the targets made first: a tmpfs laid over /var/spool since
        # (OpenSMTPD's) hides Exim's
        mounts = " && ".join(f"mkdir -p {target} && mount --bind {source} "
                             f"{target}" for source, target in self.binds)
        return ["unshare", "--mount", "--propagation", "private", "--",
                "sh", "-c", mounts + ' && exec "$@"', "sh", EXIM, *args]

    def configure(self, config_text):
        """The configuration every later command reads."""
        self.config_text = config_text
        with open(self.config_file, "w") as f:
            f.write(config_text)

    def send(self, rcpt, sender="alice@client.example", subject="test"):
        """Submits a message (to one recipient, or a list) and delivers it
        in the foreground; returns its message id."""
        rcpts = rcpt if isinstance(rcpt, list) else [rcpt]
        msg = (f"From: {sender}\nTo: {', '.join(rcpts)}\nSubject: "
               f"{subject}\n\nHello {rcpts[0]}.\n")
        p = subprocess.run(self.command("-odf", "-v", "-f", sender, *rcpts),
                           input=msg, capture_output=True, text=True,
                           timeout=120)
        m = re.search(MSGID, p.stdout + p.stderr)
        return m.group(0) if m else None

    def forget_retries(self):
        """Exim's retry hints gone (as after the retry time): a host that
        failed is tried again at once."""
        db = os.path.join(self.spool, "db")
        for name in os.listdir(db) if os.path.isdir(db) else ():
            if name.startswith("retry"):
                os.unlink(os.path.join(db, name))

    def queue(self):
        """Ids of the messages waiting in the queue."""
        p = subprocess.run(self.command("-bp"), capture_output=True,
                           text=True)
        return re.findall(MSGID, p.stdout)

    def mainlog(self, msgid=None):
        path = os.path.join(self.logdir, "mainlog")
        if not os.path.exists(path):
            return ""
        with open(path) as f:
            lines = f.read().splitlines()
        if msgid is not None:
            lines = [line for line in lines if msgid in line]
        return "\n".join(lines)

    def paniclog(self):
        path = os.path.join(self.logdir, "paniclog")
        if not os.path.exists(path):
            return ""
        with open(path) as f:
            return f.read()
