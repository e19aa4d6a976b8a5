"""STARTTLS SMTP sinks for the loopback test world (aiosmtpd): each keeps
what it received, whether it came over TLS, the names asked for by SNI and
the name the client gave in EHLO, and may refuse recipients; and servers
that misbehave on purpose."""
import asyncio
import socket
import ssl
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP


class Received:
    def __init__(self, sender, recipients, data, tls, helo=None):
        self.sender = sender
        self.recipients = recipients
        self.data = data
        self.tls = tls
        self.helo = helo


class _Handler:
    def __init__(self, sink):
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address,
                          rcpt_options):
        with self.sink.lock:
            self.sink.rcpts.append(address)
            refusal = self.sink.rcpt_reply
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(self.sink.data_delay)
        with self.sink.lock:
            self.sink.messages.append(Received(
                envelope.mail_from, list(envelope.rcpt_tos),
                envelope.content, session.ssl is not None,
                session.host_name))
        return "250 OK"


class _Controller(Controller):
    def __init__(self, sink, address, port, tls_context):
        self.tls_context_ = tls_context
        super().__init__(_Handler(sink), hostname=address, port=port,
                         ready_timeout=10)

    def factory(self):
        return SMTP(self.handler, tls_context=self.tls_context_,
                    require_starttls=False, hostname="sink.example")


class Sink:
    """An SMTP server on address:port.  cert: certificate+key file for
    STARTTLS, or None for a server that does not offer it.  rcpt_reply:
    the reply to every RCPT TO ("550 5.1.1 no such user"), None to accept
    (may be changed while it runs); rcpts: every RCPT TO address asked;
    data_delay: seconds it takes to accept a message (a slow relay)."""

    def __init__(self, address, port=25, cert=None, old_tls=False,
                 rcpt_reply=None, data_delay=0):
        self.address = address
        self.data_delay = data_delay
        self.messages = []
        self.rcpts = []
        self.rcpt_reply = rcpt_reply
        self.lock = threading.Lock()
        ctx = None
        if cert is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert)
            if old_tls:  # TLS 1.1 at most, as some old MX still speak
                ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
                ctx.minimum_version = ssl.TLSVersion.TLSv1
                ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        self.sni = []  # the names clients asked for (SNI)
        if ctx is not None:
            ctx.sni_callback = lambda sock, name, c: self.sni.append(name)
        self.controller = _Controller(self, address, port, ctx)
        self.controller.start()

    def received(self, rcpt_domain=None):
        with self.lock:
            return [m for m in self.messages if rcpt_domain is None or any(
                r.endswith("@" + rcpt_domain) for r in m.recipients)]

    def stop(self):
        self.controller.stop()


class BrokenSink:
    """A server on address:port that misbehaves on purpose:
    "drip": a greeting that comes a byte per second and never ends;
    "badtls": offers STARTTLS, says 220 to it, then answers the TLS
    handshake with bytes that are not TLS;
    "silent": accepts the connection and never says a word;
    "garbage": greets with a line that is not SMTP;
    "endless": a greeting of ever more "220-" lines (100 KB);
    "hangup": greets, then closes the connection at EHLO."""

    def __init__(self, address, how, port=25):
        self.how = how
        self.stopping = threading.Event()
        self.server = socket.create_server((address, port))
        self.server.settimeout(0.2)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                continue
            threading.Thread(target=self._talk, args=(conn,),
                             daemon=True).start()

    def _talk(self, conn):
        conn.settimeout(30)
        try:
            if self.how == "drip":
                while not self.stopping.wait(1):
                    conn.sendall(b"2")
                return
            if self.how == "silent":
                self.stopping.wait(60)
                return
            if self.how == "garbage":
                conn.sendall(b"hello, this is not SMTP\r\n")
                self.stopping.wait(60)
                return
            if self.how == "endless":
                conn.sendall((b"220-" + b"x" * 996 + b"\r\n") * 100)
                self.stopping.wait(60)
                return
            f = conn.makefile("rb")
            if self.how == "hangup":
                conn.sendall(b"220 broken.example ESMTP\r\n")
                f.readline()  # EHLO
                return
            conn.sendall(b"220 broken.example ESMTP\r\n")
            f.readline()  # EHLO
            conn.sendall(b"250-broken.example\r\n250 STARTTLS\r\n")
            f.readline()  # STARTTLS
            conn.sendall(b"220 go ahead\r\n")
            conn.recv(4096)  # the ClientHello
            conn.sendall(b"this is not TLS\r\n" * 4)
        except OSError:
            pass
        finally:
            conn.close()

    def stop(self):
        self.stopping.set()
        self.server.close()
        self.thread.join()
