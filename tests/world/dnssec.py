"""DNSSEC for one zone of the test DNS server (dnspython signs): a key made
at test time, its DNSKEY as the trust anchor, an RRSIG beside every answer
of the zone, and NSEC records that prove "no such type" (NODATA).  Names
the tests ask for exist: NXDOMAIN proofs are not made."""
import time

import dns.dnssec
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from cryptography.hazmat.primitives.asymmetric import ec

ALGORITHM = dns.dnssec.Algorithm.ECDSAP256SHA256


class Signer:
    def __init__(self, zone):
        self.zone = zone.lower().rstrip(".")
        self.origin = dns.name.from_text(self.zone)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.dnskey = dns.dnssec.make_dnskey(self.key.public_key(),
                                             ALGORITHM, flags=257)

    def covers(self, name):
        name = name.lower().rstrip(".")
        return name == self.zone or name.endswith("." + self.zone)

    def anchor(self):
        """The trust anchor, as a line of an unbound anchor file."""
        return f"{self.zone}. IN DNSKEY {self.dnskey.to_text()}\n"

    def dnskey_wire(self):
        return self.dnskey.to_wire()

    def rrsig(self, name, rtype, rdata_texts, ttl=60):
        """The wire rdata of an RRSIG over the rrset name/rtype whose
        rdatas are given in presentation form."""
        rrset = dns.rrset.from_text_list(name, ttl, dns.rdataclass.IN,
                                         rtype, rdata_texts)
        now = int(time.time())
        sig = dns.dnssec.sign(rrset, self.key, self.origin, self.dnskey,
                              inception=now - 3600, expiration=now + 86400)
        return sig.to_wire()

    def nsec_text(self, name, types):
        """An NSEC at name listing types (and RRSIG, NSEC): no other type
        exists there."""
        listed = sorted(set(types) | {"RRSIG", "NSEC"},
                        key=dns.rdatatype.from_text)
        return f"\\000.{name.rstrip('.')}. {' '.join(listed)}"

    @staticmethod
    def wire(rtype, text):
        rrset = dns.rrset.from_text_list("x.", 60, dns.rdataclass.IN, rtype,
                                         [text])
        return rrset[0].to_wire()
