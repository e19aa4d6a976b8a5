"""The HTTPS side of the loopback test world: serves each policy host's
/.well-known/mta-sts.txt with the certificate its SNI name selects, and
misbehaves on demand the ways RFC 8461 §3.3 names (redirect, wrong type,
huge or dripping body, silence, a connection cut mid-body).  Every request
is logged, so tests can count fetches."""
import http.server
import socket
import ssl
import threading


class Site:
    """What one policy host answers: body, status, content type, and how."""

    def __init__(self, body=b"", status=200, ctype="text/plain",
                 how="normal", location=None, cert=None, delay=0,
                 require_ua=False):
        self.body = body if isinstance(body, bytes) else body.encode()
        self.status = status
        self.ctype = ctype
        self.how = how  # normal | drip | hang | cut | nolength
        self.location = location
        self.cert = cert  # certificate file; None: the host's own
        self.delay = delay  # seconds before answering
        self.require_ua = require_ua  # 403 without a User-Agent


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        server = self.server
        host = (self.headers.get("Host") or "").split(":")[0].lower()
        with server.lock:
            server.requests.append((host, self.path,
                                    self.headers.get("User-Agent")))
        site = server.sites.get(host)
        if site is None or self.path != "/.well-known/mta-sts.txt":
            self.send_error(404)
            return
        if site.require_ua and not self.headers.get("User-Agent"):
            self.send_error(403)
            return
        if site.delay:
            server.stopping.wait(site.delay)
        if site.how == "hang":
            server.stopping.wait(120)
            return
        self.send_response(site.status)
        if site.ctype:
            self.send_header("Content-Type", site.ctype)
        if site.location:
            self.send_header("Location", site.location)
        if site.how == "cut":
            self.send_header("Content-Length", str(len(site.body) * 4))
            self.end_headers()
            self.wfile.write(site.body)
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if site.how == "nolength":
            # no Content-Length: the body ends when the connection does
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            try:
                self.wfile.write(site.body)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return
        self.send_header("Content-Length", str(len(site.body)))
        self.end_headers()
        if site.how == "drip":
            for i in range(len(site.body)):
                if server.stopping.wait(0.5):
                    return
                self.wfile.write(site.body[i:i + 1])
                self.wfile.flush()
            return
        try:
            self.wfile.write(site.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading, as it should


    def do_POST(self):
        """A TLS-RPT collector (RFC 8460 §5.4): server.collectors maps a
        path to how it answers ("ok", "fail": 500, "hang"); every POST is
        kept in server.posts as (host, path, content type, body)."""
        server = self.server
        host = (self.headers.get("Host") or "").split(":")[0].lower()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, 1 << 20))
        how = server.collectors.get(self.path)
        with server.lock:
            server.posts.append((host, self.path,
                                 self.headers.get("Content-Type"), body,
                                 how))
        if how == "hang":
            server.stopping.wait(120)
            return
        if how is None:
            self.send_error(404)
            return
        self.send_response(200 if how == "ok" else 500)
        self.send_header("Content-Length", "0")
        self.end_headers()


class HttpsServer(http.server.ThreadingHTTPServer):
    """HTTPS on address:port; certs maps an SNI name to a certificate file
    (certificate and key), default the one for unknown names."""
    daemon_threads = True
    request_queue_size = 256  # many clients connect at once

    def __init__(self, address, port, certs, default):
        super().__init__((address, port), Handler)
        self.sites = {}
        self.requests = []
        self.collectors = {}
        self.posts = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.contexts = {}
        self.certs = certs
        self.default = self._context(default)

        def pick(sock, name, _ctx):
            site = self.sites.get((name or "").lower())
            cert = (site.cert if site is not None and site.cert
                    else self.certs.get((name or "").lower()))
            if cert:
                sock.context = self._context(cert)
        self.default.sni_callback = pick

    def _context(self, cert):
        if cert not in self.contexts:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert)
            self.contexts[cert] = ctx
        return self.contexts[cert]

    def handle_error(self, request, client_address):
        pass  # failed handshakes are what some tests are for

    def get_request(self):
        sock, addr = self.socket.accept()
        return self.default.wrap_socket(sock, server_side=True,
                                        do_handshake_on_connect=False), addr

    def fetches(self, host):
        with self.lock:
            return sum(1 for h, _, _ in self.requests if h == host)

    def start(self):
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.stopping.set()
        self.shutdown()
        self.server_close()


class HttpsServer6(HttpsServer):
    """The same sites on an IPv6 address."""
    address_family = socket.AF_INET6


class Tarpit:
    """Accepts TCP connections and never says a word."""

    def __init__(self, address, port):
        self.sock = socket.create_server((address, port))
        self.held = []
        self.running = True
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def stop(self):
        self.running = False
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes accept()
        except OSError:
            pass
        self.sock.close()
        for c in self.held:
            c.close()
