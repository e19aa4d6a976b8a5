"""A test certificate authority made at test time: a CA, and leaf
certificates for any names, valid, expired, or signed by a stranger."""
import datetime
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DAY = datetime.timedelta(days=1)


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


class CA:
    """A certificate authority whose files live in directory."""

    def __init__(self, directory, name="mtasts test CA"):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.key = _key()
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (x509.CertificateBuilder()
                     .subject_name(_name(name)).issuer_name(_name(name))
                     .public_key(self.key.public_key())
                     .serial_number(x509.random_serial_number())
                     .not_valid_before(now - DAY)
                     .not_valid_after(now + 3650 * DAY)
                     .add_extension(x509.BasicConstraints(ca=True,
                                                          path_length=None),
                                    critical=True)
                     .add_extension(x509.KeyUsage(
                         digital_signature=True, key_cert_sign=True,
                         crl_sign=True, content_commitment=False,
                         key_encipherment=False, data_encipherment=False,
                         key_agreement=False, encipher_only=False,
                         decipher_only=False), critical=True)
                     .add_extension(x509.SubjectKeyIdentifier.from_public_key(
                         self.key.public_key()), critical=False)
                     .sign(self.key, hashes.SHA256()))
        self.cert_file = os.path.join(directory, "ca.pem")
        with open(self.cert_file, "wb") as f:
            f.write(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, label, names, expired=False):
        """Writes label.pem (certificate then key) for the DNS names;
        returns its path."""
        key = _key()
        now = datetime.datetime.now(datetime.timezone.utc)
        start, end = ((now - 30 * DAY, now - DAY) if expired
                      else (now - DAY, now + 365 * DAY))
        cert = (x509.CertificateBuilder()
                .subject_name(_name(names[0]))
                .issuer_name(self.cert.subject)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(start).not_valid_after(end)
                .add_extension(x509.SubjectAlternativeName(
                    [x509.DNSName(n) for n in names]), critical=False)
                .add_extension(x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                # as the Web PKI's CAs issue them (RFC 5280 §4.2.1.1):
                # Python 3.13's ssl (X509_STRICT) refuses a leaf without
                .add_extension(x509.AuthorityKeyIdentifier.
                               from_issuer_public_key(self.key.public_key()),
                               critical=False)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(
                    key.public_key()), critical=False)
                .sign(self.key, hashes.SHA256()))
        path = os.path.join(self.dir, label + ".pem")
        with open(path, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
            f.write(_pem_key(key))
        return path
