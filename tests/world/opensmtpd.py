"""A real OpenSMTPD (Debian bookworm's 6.8.0p2) for tests: the package is
unpacked by tools/deps (apt-get download + dpkg -x: it conflicts with
exim4) and run from there inside the caller's mount namespace, with the
shipped smtpd.conf as written.  Its compiled-in paths are made to hold
this world: users and groups, spool, run directory, the CA bundle, the
filter, the mtasts configuration and /var/lib/mtasts.

The systemd path unit of a real host (mtasts-smtpd-table.path: when the
filter rewrites the enforce table, root runs "mtasts smtpd-reload") is
played by a thread here, running the same command."""
import os
import re
import shutil
import smtplib
import socket
import subprocess
import tempfile
import threading
import time

from netns import bind, overlay, tmpfs

PKG = "/var/cache/mtasts-test/opensmtpd"
SMTPD = os.path.join(PKG, "usr", "sbin", "smtpd")
TABLE = "/var/lib/mtasts/smtpd-enforce"
# mtasts-smtpd-table.service: root in smtpctl's group, without a single
# capability, no new privileges (smtpctl's set-group-ID bit ignored)
AS_SMTPD_TABLE_UNIT = ["setpriv", "--regid=opensmtpq", "--clear-groups",
                       "--no-new-privs", "--bounding-set=-all",
                       "--inh-caps=-all", "--ambient-caps=-all"]

USERS = ("opensmtpd:x:990:990::/var/lib/opensmtpd/empty:/usr/sbin/nologin\n"
         "opensmtpq:x:991:991::/var/lib/opensmtpd/empty:/usr/sbin/nologin\n"
         "mtasts:x:992:992::/var/lib/mtasts:/usr/sbin/nologin\n")
GROUPS = "opensmtpd:x:990:\nopensmtpq:x:991:\nmtasts:x:992:\n"


def available():
    return os.path.exists(SMTPD)


def _namespace_files():
    """What smtpd.conf names and a fresh system lacks (/etc/aliases comes
    with an MTA package: none is installed here), and /var/lib writable,
    in this namespace only: the host is not touched."""
    if os.environ.get("MTASTS_IN_NETNS") != "1" or not available():
        return
    extra = tempfile.mkdtemp(prefix="mtasts-smtpd-etc-")
    os.chmod(extra, 0o755)
    if not os.path.exists("/etc/aliases"):
        with open(os.path.join(extra, "aliases"), "w") as f:
            f.write("postmaster: root\n")
        os.chmod(os.path.join(extra, "aliases"), 0o644)
    overlay("/etc", extra)
    overlay("/var/lib")


_namespace_files()


def rcpt(domain):
    """(code, text) of RCPT TO bob@domain at the OpenSMTPD of this
    namespace (port 25), and the message sent when it was accepted."""
    with smtplib.SMTP("127.0.0.1", 25, timeout=60) as s:
        s.ehlo("client.example")
        s.mail("alice@client.example")
        code, text = s.rcpt(f"bob@{domain}")
        if code == 250:
            s.data(f"Subject: to {domain}\r\n\r\nhello\r\n")
    return code, text.decode()


class Smtpd:
    def __init__(self, directory, smtpd_conf, filter_path, mtasts_conf,
                 ca_file, mtasts):
        self.mtasts = mtasts
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        for name, extra in (("passwd", USERS), ("group", GROUPS)):
            path = os.path.join(directory, name)
            with open(f"/etc/{name}") as src, open(path, "w") as f:
                f.write(src.read() + extra)
            bind(path, f"/etc/{name}")
        tmpfs("/var/spool")
        tmpfs("/run")
        os.makedirs("/run/mtasts-smtpd")  # RuntimeDirectory= of the unit
        tmpfs("/var/lib/opensmtpd")
        os.makedirs("/var/lib/opensmtpd/empty")
        # /var/lib/mtasts: the table and the cache, shared through the
        # mtasts group (mtasts.conf(5), SHARING THE CACHE)
        lib = os.path.join(directory, "var-lib-mtasts")
        os.makedirs(lib)
        os.chown(lib, 0, 992)
        os.chmod(lib, 0o2775)  # smtpd's own user reads the table
        # what mtasts writes when there is no enforce domain
        for name, text in (("smtpd-enforce", "mtasts.invalid\n"),
                           ("smtpd-enforce.routes", "mtasts.invalid "
                            "smtp+tls://mtasts.invalid:25\n")):
            with open(os.path.join(lib, name), "w") as f:
                f.write(text)
            os.chmod(os.path.join(lib, name), 0o644)
            # mtasts's, as the package makes them (the filter touches
            # the list: smtpd 7.x runs it as mtasts, 6.8 as root)
            os.chown(os.path.join(lib, name), 992, 992)
        bind(lib, "/var/lib/mtasts")
        bind(ca_file, "/etc/ssl/certs/ca-certificates.crt")
        # the paths of the smtpd.conf as built, without writing to the
        # host: /usr/local is a tmpfs here, /etc/mtasts a directory of the
        # test's
        with open(smtpd_conf) as f:
            m = re.search(r'proc-exec "(\S+) --config (\S+)"', f.read())
        installed_filter, installed_conf = m.group(1), m.group(2)
        self.config = installed_conf  # the filter's mtasts.conf
        tmpfs("/usr/local")
        for path in (installed_filter, installed_conf):
            if not path.startswith(("/usr/local/", "/etc/mtasts/")):
                raise RuntimeError(f"{path}: build with --prefix=/usr/local")
        os.makedirs(os.path.dirname(installed_filter), exist_ok=True)
        shutil.copy(filter_path, installed_filter)
        etc = os.path.join(directory, "etc-mtasts")
        os.makedirs(etc)
        shutil.copy(mtasts_conf, os.path.join(etc, "mtasts.conf"))
        os.chmod(etc, 0o755)
        os.makedirs(os.path.dirname(installed_conf), exist_ok=True)
        if installed_conf.startswith("/usr/local/"):
            shutil.copy(mtasts_conf, installed_conf)
            os.chmod(installed_conf, 0o644)
        else:
            bind(etc, os.path.dirname(installed_conf))
        # smtpctl must be setgid opensmtpq (Debian's dpkg-statoverride)
        self.smtpctl = os.path.join(directory, "smtpctl")
        shutil.copy(os.path.join(PKG, "usr", "sbin", "smtpctl"), self.smtpctl)
        os.chown(self.smtpctl, 0, 991)
        os.chmod(self.smtpctl, 0o2755)
        self.log_path = os.path.join(directory, "smtpd.log")
        self.log = open(self.log_path, "w")
        self.conf = smtpd_conf
        self._start()
        self.stopping = threading.Event()
        self.reload_status = []
        self.reload_off = threading.Event()  # as if the path unit failed
        threading.Thread(target=self._watch_table, daemon=True).start()

    def _start(self):
        self.proc = subprocess.Popen([SMTPD, "-d", "-f", self.conf],
                                     stdout=self.log, stderr=self.log)
        self._wait_listening()

    def restart(self):
        """A new smtpd (and with it a new filter); the files of /run and
        /var/lib/mtasts stay, as a restart leaves them."""
        self.proc.terminate()
        self.proc.wait(10)
        self._start()

    def _wait_listening(self):
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", 25), 0.2).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.1)
        raise RuntimeError("smtpd did not start:\n" + self.logtext())

    def _watch_table(self):
        def stamp():
            return tuple(os.stat(p).st_mtime_ns
                         for p in (TABLE, TABLE + ".routes"))
        seen = stamp()
        while not self.stopping.wait(0.05):
            try:
                now = stamp()
            except OSError:
                continue
            if now != seen and not self.reload_off.is_set():
                seen = now
                # as mtasts-smtpd-table.service runs it
                p = subprocess.run([*AS_SMTPD_TABLE_UNIT, self.mtasts,
                                    "smtpd-reload",
                                    "--smtpctl", self.smtpctl],
                                   capture_output=True)
                self.reload_status.append(p.returncode)

    def queue(self):
        p = subprocess.run([self.smtpctl, "show", "queue"],
                           capture_output=True, text=True)
        return p.stdout

    def logtext(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        self.stopping.set()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
