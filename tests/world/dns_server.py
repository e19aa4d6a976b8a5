"""A small authoritative DNS server for the loopback test world (dnslib):
answers from a zone held in memory, follows CNAMEs inside it, and can be
told to answer SERVFAIL or nothing at all for a name."""
import threading

from dnslib import (AAAA, CNAME, MX, QTYPE, RCODE, RR, SOA, TXT, A,
                    DNSRecord)
from dnslib.dns import RD, DNSError
from dnslib.server import BaseResolver, DNSHandler, DNSServer

SOA_RR = SOA("ns.example.", "hostmaster.example.", (1, 3600, 600, 86400, 60))


class Zone(BaseResolver):
    """records: {name: [(type, value), ...]}; behaviour: {name: "servfail"
    | "timeout"}.  Names are lower case, without the final dot."""

    def __init__(self):
        self.records = {}
        self.behaviour = {}
        self.signer = None  # dnssec.Signer of one zone, or None
        self.lock = threading.Lock()
        self.queries = []

    def add(self, name, rtype, value):
        with self.lock:
            self.records.setdefault(name.lower().rstrip("."), []).append(
                (rtype, value))

    def remove(self, name, rtype=None):
        name = name.lower().rstrip(".")
        with self.lock:
            self.records[name] = [r for r in self.records.get(name, [])
                                  if rtype is not None and r[0] != rtype]

    def set_behaviour(self, name, what):
        with self.lock:
            self.behaviour[name.lower().rstrip(".")] = what

    @staticmethod
    def _rdata(rtype, value):
        if rtype == "A":
            return A(value)
        if rtype == "AAAA":
            return AAAA(value)
        if rtype == "CNAME":
            return CNAME(value)
        if rtype == "MX":
            return MX(value[1], value[0])
        if rtype == "TXT":
            # a list of character-strings, or one string
            strings = value if isinstance(value, list) else [value]
            return TXT([s.encode() if isinstance(s, str) else s
                        for s in strings])
        if rtype == "TLSA":
            return RD(bytes.fromhex(value))
        raise ValueError(rtype)

    def resolve(self, request, handler):
        reply = request.reply()
        reply.header.ra = 1
        qname = str(request.q.qname).lower().rstrip(".")
        qtype = QTYPE[request.q.qtype]
        with self.lock:
            self.queries.append((qname, qtype))
            what = self.behaviour.get(qname)
            if what == "timeout":
                raise DNSError("no answer, on purpose")
            if what == "servfail":
                reply.header.rcode = RCODE.SERVFAIL
                return reply
            name = qname
            for _ in range(8):  # follow CNAMEs inside the zone
                rrs = self.records.get(name)
                cname = [v for t, v in rrs or [] if t == "CNAME"]
                if cname and qtype != "CNAME":
                    reply.add_answer(RR(name + ".", QTYPE.CNAME, ttl=60,
                                        rdata=CNAME(cname[0])))
                    name = cname[0].lower().rstrip(".")
                    continue
                break
            if rrs is None:
                if name == qname:
                    reply.header.rcode = RCODE.NXDOMAIN
                    reply.add_auth(RR("example.", QTYPE.SOA, ttl=60,
                                      rdata=SOA_RR))
                return reply
            for t, v in rrs:
                if t == qtype:
                    reply.add_answer(RR(name + ".", getattr(QTYPE, t),
                                        ttl=60, rdata=self._rdata(t, v)))
            if self.signer is not None and self.signer.covers(name):
                self._signed(reply, name, qtype, rrs)
            elif not reply.rr:
                reply.add_auth(RR("example.", QTYPE.SOA, ttl=60,
                                  rdata=SOA_RR))
        return reply

    def _signed(self, reply, name, qtype, rrs):
        """The answer of a signed zone: its DNSKEY, an RRSIG beside each
        rrset, and for NODATA the zone's SOA and an NSEC, signed."""
        sig = self.signer
        if qtype == "DNSKEY" and name == sig.zone:
            reply.add_answer(RR(name + ".", QTYPE.DNSKEY, ttl=60,
                                rdata=RD(sig.dnskey_wire())))
        groups = {}
        for rr in reply.rr:
            groups.setdefault((str(rr.rname), rr.rtype), []).append(rr)
        for (rname, rtype), rrs_ in groups.items():
            tname = QTYPE[rtype]
            texts = ([sig.dnskey.to_text()] if tname == "DNSKEY" else
                     [rr.rdata.toZone() for rr in rrs_])
            reply.add_answer(RR(rname, QTYPE.RRSIG, ttl=60, rdata=RD(
                sig.rrsig(rname, tname, texts))))
        if reply.rr:
            return
        soa = "ns.example. hostmaster.example. 1 3600 600 86400 60"
        nsec = sig.nsec_text(name, {t for t, _ in rrs})
        for owner, tname, text in ((sig.zone + ".", "SOA", soa),
                                   (name + ".", "NSEC", nsec)):
            reply.add_auth(RR(owner, getattr(QTYPE, tname), ttl=60,
                              rdata=RD(sig.wire(tname, text))))
            reply.add_auth(RR(owner, QTYPE.RRSIG, ttl=60,
                              rdata=RD(sig.rrsig(owner, tname, [text]))))


class _Logger:
    def log_recv(self, *a): pass
    def log_send(self, *a): pass
    def log_request(self, *a): pass
    def log_reply(self, *a): pass
    def log_truncated(self, *a): pass
    def log_error(self, *a): pass
    def log_data(self, *a): pass


class _Handler(DNSHandler):
    # a UDP answer larger than EDNS's usual 1232 bytes is truncated (TC),
    # as real servers do: the resolver asks again over TCP
    udplen = 1232


class DnsServer:
    """UDP and TCP on address:port, serving zone, in threads."""

    def __init__(self, zone, address="127.0.0.1", port=0):
        self.zone = zone
        # a free UDP port may be taken for TCP: try again
        for _ in range(50):
            self.udp = DNSServer(zone, address=address, port=port,
                                 logger=_Logger(), handler=_Handler)
            self.port = self.udp.server.server_address[1]
            try:
                self.tcp = DNSServer(zone, address=address, port=self.port,
                                     tcp=True, logger=_Logger(),
                                     handler=_Handler)
                return
            except OSError:
                self.udp.server.server_close()
                if port:
                    raise
        raise OSError("no port free for both UDP and TCP")

    def start(self):
        self.udp.start_thread()
        self.tcp.start_thread()
        return self

    def stop(self):
        for s in (self.udp, self.tcp):
            s.stop()
            s.server.server_close()


if __name__ == "__main__":
    z = Zone()
    z.add("_mta-sts.a.example", "TXT", "v=STSv1; id=1")
    s = DnsServer(z, port=5353).start()
    print(DNSRecord.question("_mta-sts.a.example", "TXT").send(
        "127.0.0.1", 5353))
    s.stop()
