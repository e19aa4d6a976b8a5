"""STARTTLS SMTP sinks for the loopback test world (aiosmtpd): each keeps
what it received, and whether it came over TLS."""
import ssl
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP


class Received:
    def __init__(self, sender, recipients, data, tls):
        self.sender = sender
        self.recipients = recipients
        self.data = data
        self.tls = tls


class _Handler:
    def __init__(self, sink):
        self.sink = sink

    async def handle_DATA(self, server, session, envelope):
        with self.sink.lock:
            self.sink.messages.append(Received(
                envelope.mail_from, list(envelope.rcpt_tos),
                envelope.content, session.ssl is not None))
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
    STARTTLS, or None for a server that does not offer it."""

    def __init__(self, address, port=25, cert=None, old_tls=False):
        self.address = address
        self.messages = []
        self.lock = threading.Lock()
        ctx = None
        if cert is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert)
            if old_tls:  # TLS 1.1 at most, as some old MX still speak
                ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
                ctx.minimum_version = ssl.TLSVersion.TLSv1
                ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        self.controller = _Controller(self, address, port, ctx)
        self.controller.start()

    def received(self, rcpt_domain=None):
        with self.lock:
            return [m for m in self.messages if rcpt_domain is None or any(
                r.endswith("@" + rcpt_domain) for r in m.recipients)]

    def stop(self):
        self.controller.stop()
