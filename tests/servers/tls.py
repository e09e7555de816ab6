"""Certificates and TLS contexts for tests, from trustme (plus cryptography for a self-signed one).

    pki = Pki()
    server_ctx = pki.server_context("expired")        # hand to misbehave.serve(..., ssl_context=)
    client_ctx = pki.client_context()                  # trusts pki.ca only
    bundle = pki.ca_pem_path(tmp_path)                 # for --ca-bundle

What a client that trusts ``pki.ca`` sees (OpenSSL 3.0, checked in tests/test_servers_dns_tls.py),
as ``ssl.SSLCertVerificationError.verify_code`` / ``verify_message``:

=====================  ====  ================================================
kind                   code  verify_message
=====================  ====  ================================================
valid                  -     (handshake succeeds)
expired                10    certificate has expired
not_yet_valid          9     certificate is not yet valid
wrong_name             62    Hostname mismatch, certificate is not valid for ...
(IP not in the SANs)   64    IP address mismatch, certificate is not valid for ...
self_signed            18    self-signed certificate
unknown_ca             20    unable to get local issuer certificate
missing_intermediate   20    unable to get local issuer certificate
=====================  ====  ================================================

``handshake_failure_context()`` makes the handshake itself fail (no certificate involved): the
server only speaks TLS 1.0, and Python's default client context refuses anything below TLS 1.2, so
the server answers the ClientHello with a ``protocol_version`` alert and the client raises
``ssl.SSLError`` (not ``SSLCertVerificationError``) with ``reason ==
"TLSV1_ALERT_PROTOCOL_VERSION"``: "[SSL: TLSV1_ALERT_PROTOCOL_VERSION] tlsv1 alert protocol
version". With ``reason="no_shared_cipher"`` the server speaks TLS 1.2 but only ciphers the
default client never offers; the client gets a ``handshake_failure`` alert, ``reason ==
"SSLV3_ALERT_HANDSHAKE_FAILURE"``. (The server side of those raises UNSUPPORTED_PROTOCOL /
NO_SHARED_CIPHER; on certificate failures it gets the client's alert:
SSLV3_ALERT_CERTIFICATE_EXPIRED for expired, SSLV3_ALERT_BAD_CERTIFICATE for not_yet_valid and
wrong_name, TLSV1_ALERT_UNKNOWN_CA for self_signed, unknown_ca and missing_intermediate.)
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import tempfile
import warnings
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["KINDS", "Pki", "handshake_failure_context"]

KINDS = (
    "valid",
    "expired",
    "not_yet_valid",
    "wrong_name",
    "self_signed",
    "unknown_ca",
    "missing_intermediate",
)

DEFAULT_HOSTNAMES = ("site.test", "127.0.0.1")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


def _server_ctx() -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    # Tests open and abandon many connections; tickets only add noise to them.
    ctx.options |= ssl.OP_NO_TICKET
    return ctx


def _load_pem(ctx: ssl.SSLContext, cert_chain_pem: bytes, key_pem: bytes) -> None:
    """ssl can only load certificates from files: go through a temporary one."""
    fd, path = tempfile.mkstemp(suffix=".pem")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(key_pem)
            f.write(cert_chain_pem)
        ctx.load_cert_chain(path)
    finally:
        os.unlink(path)


def _san(hostname: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(hostname))
    except ValueError:
        return x509.DNSName(hostname)


def self_signed_pem(hostnames=DEFAULT_HOSTNAMES) -> tuple[bytes, bytes]:
    """A true self-signed end-entity certificate (issuer == subject) and its key, as PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([_san(h) for h in hostnames]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


class Pki:
    """One trustme CA for a test session, and server/client contexts built on it."""

    def __init__(self) -> None:
        self.ca = trustme.CA()
        self._other_ca: trustme.CA | None = None
        self._intermediate: trustme.CA | None = None

    # --------------------------------------------------------------- files

    def ca_pem_path(self, tmp_dir) -> str:
        """Write the CA certificate to ``tmp_dir/ca.pem`` (for ``--ca-bundle``); return the path."""
        path = Path(tmp_dir) / "ca.pem"
        self.ca.cert_pem.write_to_path(str(path))
        return str(path)

    # --------------------------------------------------------------- leaves

    def issue(self, kind: str, hostnames=DEFAULT_HOSTNAMES) -> tuple[bytes, bytes]:
        """(certificate chain PEM the server sends, private key PEM) for ``kind``."""
        hostnames = tuple(hostnames)
        now = _now()
        day = datetime.timedelta(days=1)
        if kind == "valid":
            leaf = self.ca.issue_cert(*hostnames)
        elif kind == "expired":
            leaf = self.ca.issue_cert(*hostnames, not_before=now - 30 * day, not_after=now - day)
        elif kind == "not_yet_valid":
            leaf = self.ca.issue_cert(*hostnames, not_before=now + day, not_after=now + 30 * day)
        elif kind == "wrong_name":
            leaf = self.ca.issue_cert("other.test")
        elif kind == "self_signed":
            return self_signed_pem(hostnames)
        elif kind == "unknown_ca":
            if self._other_ca is None:
                self._other_ca = trustme.CA()
            leaf = self._other_ca.issue_cert(*hostnames)
        elif kind == "missing_intermediate":
            # Issued by an intermediate of ``ca``, but the server does not send the intermediate.
            if self._intermediate is None:
                self._intermediate = self.ca.create_child_ca()
            leaf = self._intermediate.issue_cert(*hostnames)
            return leaf.cert_chain_pems[0].bytes(), leaf.private_key_pem.bytes()
        else:
            raise ValueError(f"unknown certificate kind {kind!r}; expected one of {KINDS}")
        chain = b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
        return chain, leaf.private_key_pem.bytes()

    # --------------------------------------------------------------- contexts

    def server_context(self, kind: str = "valid", hostnames=DEFAULT_HOSTNAMES) -> ssl.SSLContext:
        """A server-side context presenting a certificate of ``kind`` (see ``KINDS``)."""
        ctx = _server_ctx()
        _load_pem(ctx, *self.issue(kind, hostnames))
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """Python's default client context, trusting only ``ca``."""
        # With cadata given, create_default_context() does not load the system's CAs.
        return ssl.create_default_context(cadata=self.ca.cert_pem.bytes().decode())

    def handshake_failure_context(self, reason: str = "protocol_version") -> ssl.SSLContext:
        """Like the module function, but presenting a valid certificate from ``ca``."""
        return handshake_failure_context(self, reason)


def handshake_failure_context(pki: Pki | None = None, reason: str = "protocol_version"):
    """A server context a default modern client cannot complete a handshake with.

    ``reason="protocol_version"``: TLS 1.0 only (client: TLSV1_ALERT_PROTOCOL_VERSION).
    ``reason="no_shared_cipher"``: TLS 1.2 only, with just PSK ciphers that the default client
    does not offer (client: SSLV3_ALERT_HANDSHAKE_FAILURE).
    The certificate is a valid one (from ``pki`` if given), so nothing about it is at fault.
    """
    ctx = _server_ctx()
    if reason == "protocol_version":
        # OpenSSL 3 refuses TLS 1.0 at security level >= 1: allow it so the *server* side works.
        with warnings.catch_warnings():  # "ssl.TLSVersion.TLSv1 is deprecated": that's the point
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = ssl.TLSVersion.TLSv1
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    elif reason == "no_shared_cipher":
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers("PSK")
    else:
        raise ValueError(f"unknown reason {reason!r}")
    _load_pem(ctx, *(pki or Pki()).issue("valid"))
    return ctx
