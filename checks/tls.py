"""The TLS probe: a handshake with SNI, and the certificate even when it fails.

The verdict must say *why* a certificate is refused (expired, wrong name,
untrusted), so on a verification failure the probe shakes hands once more
without verification, only to read the certificate. The reason comes from
OpenSSL's verify code, not from an error message.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import os
import re
import ssl
import time
from datetime import UTC, datetime
from typing import Any

from checks.models import Certificate, ErrorKind, TlsResult
from checks.tcp import classify_os_error
from checks.text import printable

# OpenSSL X509_V_ERR_* codes (include/openssl/x509_vfy.h).
_VERIFY_KINDS = {
    9: ErrorKind.TLS_NOT_YET_VALID,
    10: ErrorKind.TLS_EXPIRED,
    62: ErrorKind.TLS_HOSTNAME,
    64: ErrorKind.TLS_HOSTNAME,  # IP address mismatch
}


@functools.lru_cache(maxsize=16)
def verifying_context(ca_bundle: str | None = None) -> ssl.SSLContext:
    """A browser-like client context (system CAs plus `ca_bundle`); built once per process.

    The system's CAs come from its hashed certificate directory when it has one, which
    OpenSSL reads one issuer at a time as a handshake needs it; loading the whole
    bundle file (what `load_default_certs` does) parses every root up front, about
    35 ms of every `gateway check` of an HTTPS site. `SSL_CERT_FILE` is honoured as is.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    directory = _hashed_ca_directory()
    if directory is not None:
        context.load_verify_locations(capath=directory)
    else:
        context.load_default_certs()
    if ca_bundle:
        context.load_verify_locations(cafile=ca_bundle)
    return context


_HASHED_NAME = re.compile(r"^[0-9a-f]{8}\.[0-9]+$")


def _hashed_ca_directory() -> str | None:
    """The system's CA directory, if it is hashed for lookups (c_rehash) and holds them all.

    An `SSL_CERT_FILE` elsewhere may hold other roots, so it is loaded as it is; one
    inside the hashed directory (Debian's ca-certificates.crt, which
    update-ca-certificates writes beside the links) holds the same roots as the links.
    """
    directory = ssl.get_default_verify_paths().capath
    if not directory:
        return None
    bundle = os.environ.get("SSL_CERT_FILE")
    if bundle and os.path.dirname(os.path.realpath(bundle)) != os.path.realpath(directory):
        return None
    try:
        names = os.listdir(directory)
    except OSError:
        return None
    return directory if any(_HASHED_NAME.match(name) for name in names) else None


_READY: dict[str | None, ssl.SSLContext] = {}


async def ready_verifying_context(ca_bundle: str | None = None) -> ssl.SSLContext:
    """`verifying_context` without blocking the loop: built in a thread the first time."""
    context = _READY.get(ca_bundle)
    if context is None:
        context = await asyncio.to_thread(verifying_context, ca_bundle)
        if len(_READY) < 16:
            _READY[ca_bundle] = context
    return context


@functools.lru_cache(maxsize=1)
def inspecting_context() -> ssl.SSLContext:
    """A context that accepts any certificate: used only to read what the server sends."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def handshake(
    address: str, port: int, server_name: str, timeout: float, ca_bundle: str | None = None
) -> TlsResult:
    """Shake hands with `address` presenting `server_name`, within `timeout` seconds."""
    started = time.perf_counter()
    context = await ready_verifying_context(ca_bundle)

    def result(**found: Any) -> TlsResult:
        return TlsResult(address=address, port=port, server_name=server_name, **found)

    try:
        async with asyncio.timeout(timeout):
            info = await _shake(address, port, server_name, context)
    except TimeoutError:
        return result(
            error=ErrorKind.TIMEOUT,
            detail=f"no handshake in {timeout:.1f} s",
            ms=_since(started),
        )
    except ssl.SSLCertVerificationError as exc:
        kind = _VERIFY_KINDS.get(exc.verify_code, ErrorKind.TLS_UNTRUSTED)
        certificate = await _read_certificate(address, port, server_name, timeout, started)
        return result(
            error=kind,
            detail=exc.verify_message or str(exc.reason),
            verify_code=exc.verify_code,
            certificate=certificate,
            ms=_since(started),
        )
    except ssl.SSLError as exc:
        return result(
            error=ErrorKind.TLS_HANDSHAKE,
            detail=f"handshake failed: {exc.reason or exc.__class__.__name__}",
            ms=_since(started),
        )
    except ConnectionRefusedError:
        return result(error=ErrorKind.REFUSED, detail="connection refused", ms=_since(started))
    except (ConnectionResetError, asyncio.IncompleteReadError, EOFError):
        return result(
            error=ErrorKind.TLS_HANDSHAKE,
            detail="the server closed the connection during the handshake",
            ms=_since(started),
        )
    except OSError as exc:
        kind, detail = classify_os_error(exc)
        return result(error=kind, detail=detail, ms=_since(started))
    der, version, cipher = info
    return result(
        version=version,
        cipher=cipher,
        certificate=parse_certificate(der),
        ms=_since(started),
    )


async def _shake(
    address: str, port: int, server_name: str, context: ssl.SSLContext
) -> tuple[bytes | None, str | None, str | None]:
    _reader, writer = await asyncio.open_connection(
        address, port, ssl=context, server_hostname=server_name
    )
    try:
        tls = writer.get_extra_info("ssl_object")
        cipher = tls.cipher()
        return tls.getpeercert(binary_form=True), tls.version(), cipher[0] if cipher else None
    finally:
        writer.close()


async def _read_certificate(
    address: str, port: int, server_name: str, timeout: float, started: float
) -> Certificate | None:
    """Fetch the certificate without verifying it, within what is left of `timeout`."""
    left = timeout - (time.perf_counter() - started)
    if left <= 0:
        return None
    try:
        async with asyncio.timeout(left):
            der, _, _ = await _shake(address, port, server_name, inspecting_context())
    except (TimeoutError, OSError, EOFError, asyncio.IncompleteReadError):
        return None
    return parse_certificate(der)


_SHORT_NAMES = {
    "commonName": "CN",
    "localityName": "L",
    "stateOrProvinceName": "ST",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "countryName": "C",
    "streetAddress": "STREET",
    "domainComponent": "DC",
    "userId": "UID",
}
_ESCAPED = re.compile(r'([,+"\\<>;])')
PeerCertificate = dict[str, Any]


def certificate_from_peer(peer: PeerCertificate) -> Certificate | None:
    """The certificate as `ssl.SSLSocket.getpeercert()` decoded it after verifying it.

    A verified handshake comes with the certificate already decoded by OpenSSL, so a
    healthy HTTPS check needs no second parse (and no import of cryptography).
    """
    try:
        names = peer.get("subjectAltName", ())
        sans = tuple(printable(value) for kind, value in names if kind == "DNS") + tuple(
            str(ipaddress.ip_address(value.strip()))
            for kind, value in names
            if kind == "IP Address"
        )
        return Certificate(
            subject=printable(_rfc4514(peer.get("subject", ()))),
            issuer=printable(_rfc4514(peer.get("issuer", ()))),
            sans=sans,
            not_before=_when(peer["notBefore"]),
            not_after=_when(peer["notAfter"]),
            self_signed=peer.get("subject") == peer.get("issuer"),
        )
    except (KeyError, ValueError, TypeError):
        return None


def _rfc4514(name: tuple[tuple[tuple[str, str], ...], ...]) -> str:
    """A distinguished name as RFC 4514 writes it (last RDN first), as cryptography does."""
    parts = []
    for rdn in reversed(name):
        parts.append(
            "+".join(f"{_SHORT_NAMES.get(key, key)}={_escape(value)}" for key, value in rdn)
        )
    return ",".join(parts)


def _escape(value: str) -> str:
    value = _ESCAPED.sub(r"\\\1", value)
    if value.startswith(("#", " ")):
        value = "\\" + value
    if value.endswith(" "):
        value = value[:-1] + "\\ "
    return value


def _when(text: str) -> datetime:
    return datetime.fromtimestamp(ssl.cert_time_to_seconds(text), UTC)


@functools.lru_cache(maxsize=512)
def parse_certificate(der: bytes | None) -> Certificate | None:
    """Read subject, issuer, SANs and validity from a DER certificate.

    Cached by the certificate's bytes: a watched site shows the same one at every
    check. cryptography is imported here, on the first HTTPS check, not with the
    module: `gateway check http://…` never pays for it.
    """
    if not der:
        return None
    from cryptography import x509

    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return None
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        sans = tuple(printable(n) for n in san.get_values_for_type(x509.DNSName)) + tuple(
            str(ip) for ip in san.get_values_for_type(x509.IPAddress)
        )
    except x509.ExtensionNotFound:
        sans = ()
    return Certificate(
        # Written by whoever made the certificate: no control character gets through.
        subject=printable(cert.subject.rfc4514_string()),
        issuer=printable(cert.issuer.rfc4514_string()),
        sans=sans,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        self_signed=cert.subject == cert.issuer,
    )


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
