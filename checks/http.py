"""The HTTP probe: one attempt, pinned to a vetted address, redirects followed.

The connection goes to the address that DNS returned and the guard vetted;
the Host header and SNI carry the name, and nothing resolves it a second
time. The probe opens the connection itself (asyncio's streams, TLS with
SNI) and speaks HTTP/1.1 through h11, the parser httpx and httpcore are
built on: each phase fails at a known place, so refused, timed out, "closed
without a byte" and "sent something that is not HTTP" are told apart where
they happen, never by reading an exception's message. Going through h11
directly, rather than an HTTP client's pool and request machinery, costs a
third of the CPU per request (bench/check_overhead.py), which is what decides
how many watches one core holds.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import cast
from urllib.parse import urljoin, urlsplit

import h11

from checks.body import BoundedDecoder, DecodeError, text_of
from checks.guard import TargetRefused
from checks.models import (
    Ending,
    ErrorKind,
    Hop,
    HttpSample,
    Target,
    TcpAttempt,
    Timings,
    TlsResult,
)
from checks.target import TargetError, parse_target
from checks.tcp import classify_os_error
from checks.text import printable
from checks.tls import (
    PeerCertificate,
    certificate_from_peer,
    inspecting_context,
    parse_certificate,
)

BODY_CAP = 64 * 1024
RAW_CAP = 1024 * 1024  # bytes read off the wire per sample, whatever they decode to
HEADER_CAP = 100 * 1024  # the status line and headers, as httpcore allows
MAX_REDIRECTS = 10
USER_AGENT = "Mozilla/5.0 (compatible; gateway-check/0.1; +https://github.com/gateway)"
_FIRST_BYTES = 200
_READ_SIZE = 64 * 1024
_HEADERS = [
    ("user-agent", USER_AGENT),
    ("accept", "text/html,application/xhtml+xml,*/*;q=0.8"),
    # Only what checks.body decodes under its cap; never advertise br or zstd.
    ("accept-encoding", "gzip, deflate"),
    ("connection", "close"),
]

# Given a host name, return an address the guard allows, or raise ValueError with the reason.
AddressFor = Callable[[str], Awaitable[str]]
# Told when the first hop's TCP connection is up, for live progress.
OnConnect = Callable[[TcpAttempt], None]


@dataclass
class _Wire:
    """What one request saw on the network (internal, mutable)."""

    started: float = field(default_factory=time.perf_counter)
    connected: float | None = None
    tls_done: float | None = None
    first_byte: float | None = None
    received: int = 0
    first_bytes: bytes = b""
    # (certificate DER, TLS version, cipher) once a handshake completed
    session: tuple[bytes | None, str | None, str | None] | None = None
    # the certificate as OpenSSL decoded it, when the handshake verified it
    peer: PeerCertificate | None = None

    def ms(self, moment: float | None) -> float | None:
        return None if moment is None else (moment - self.started) * 1000

    def saw(self, data: bytes) -> None:
        if data and self.first_byte is None:
            self.first_byte = time.perf_counter()
        self.received += len(data)
        if len(self.first_bytes) < _FIRST_BYTES:
            self.first_bytes += data[: _FIRST_BYTES - len(self.first_bytes)]


class _Failed(Exception):
    """A request ended at a known place; `kind` and `detail` say where and why."""

    def __init__(self, kind: ErrorKind, detail: str, ending: Ending = Ending.UNKNOWN) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.ending = ending


@dataclass(frozen=True)
class _Url:
    """The parts of an absolute http(s) URL that a request needs."""

    scheme: str
    host: str  # without brackets
    port: int
    authority: str  # the Host header
    target: str  # path and query

    @classmethod
    def parse(cls, url: str) -> _Url:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        default = 443 if scheme == "https" else 80
        host = parts.hostname or ""
        port = parts.port or default
        shown = f"[{host}]" if ":" in host else host
        authority = shown if port == default else f"{shown}:{port}"
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(scheme, host, port, authority, target)


async def fetch(
    url: str,
    address: str,
    timeout: float,
    connect_timeout: float,
    address_for: AddressFor,
    verify: ssl.SSLContext | None = None,
    on_connect: OnConnect | None = None,
    connect_port: int | None = None,
) -> HttpSample:
    """GET `url` from `address`, following redirects; never raises for network trouble.

    `connect_port` (an origin given as IP:PORT) is where the connection goes while the
    URL's host and port stay the first hop's; the Host header and SNI never change.

    A redirect the check will not follow is evidence, not a crash: the sample keeps
    the redirect's status and says where it pointed and why it was not followed.

    With `verify`, the first hop's handshake verifies the certificate, and the sample
    carries that TLS session (a failed verification is a TLS_HANDSHAKE error; the
    caller then inspects the certificate on its own). Later hops never verify: the
    redirect's target is evidence, not the site under check.
    """
    started = time.perf_counter()
    hops: list[Hop] = []
    seen = {url}
    current_url, current_address = url, address
    origin = _Url.parse(url)
    current_host = origin.host
    first: tuple[TcpAttempt, TlsResult | None] | None = None
    while True:
        left = timeout - (time.perf_counter() - started)
        context = verify if first is None and verify is not None else inspecting_context()
        here = _Url.parse(current_url)
        same_place = (here.host, here.port) == (origin.host, origin.port)
        sample, wire = await _get_once(
            current_url,
            current_address,
            max(left, 0.001),
            connect_timeout,
            context,
            on_connect if first is None else None,
            connect_port if same_place else None,
        )
        if first is None:
            first = _first_hop(sample, wire, verify is not None)
        sample = replace(sample, first_connect=first[0], tls=first[1])
        location = sample.header("location") if sample.status in _REDIRECTS else None
        if not location:
            return _finish(sample, hops, started)
        hops.append(Hop(url=current_url, status=sample.status or 0, location=_shown(location)))
        next_target = redirect_target(current_url, location)
        if isinstance(next_target, str):
            refused = _replace_error(sample, ErrorKind.BAD_REDIRECT, next_target)
            return _finish(refused, hops, started)
        next_url = next_target.url
        failure = _redirect_failure(next_url, seen, len(hops))
        if failure:
            return _finish(_replace_error(sample, *failure), hops, started)
        seen.add(next_url)
        if next_target.host != current_host:
            try:
                current_address = await address_for(next_target.host)
            except TargetRefused as exc:
                return _finish(
                    _replace_error(sample, ErrorKind.REDIRECT_REFUSED, str(exc)), hops, started
                )
            except ValueError as exc:
                refused = _replace_error(
                    sample, ErrorKind.BAD_REDIRECT, f"{_not_followed(location)}: {exc}"
                )
                return _finish(refused, hops, started)
        current_url, current_host = next_url, next_target.host


_REDIRECTS = {301, 302, 303, 307, 308}
_WEB_URL = re.compile(r"^https?://", re.IGNORECASE)
_AUTHORITY = re.compile(r"^(https?://[^/?#]*)(.*)$", re.IGNORECASE | re.DOTALL)


def redirect_target(current_url: str, location: str) -> Target | str:
    """Where a Location header leads, as a Target; or why a browser could not go there."""
    location = location.strip()
    try:
        # An absolute URL is judged as sent (urljoin would only refuse it without a reason).
        joined = location if _WEB_URL.match(location) else urljoin(current_url, location)
    except ValueError:
        return f"{_not_followed(location)}: it is not a valid URL"
    scheme = joined.split(":", 1)[0].lower() if ":" in joined else ""
    if scheme not in ("http", "https"):
        return (
            f"{_not_followed(location)}: a {_shown(scheme, 20)}: URL is not a web page, "
            "and browsers refuse to follow a redirect there"
        )
    if not _WEB_URL.match(joined):
        return f"{_not_followed(location)}: it is not a valid URL"
    authority = _AUTHORITY.match(joined)
    if authority:  # a browser sends a space in a path or query as %20, and so does the check
        joined = authority.group(1) + authority.group(2).replace(" ", "%20")
    try:
        target = parse_target(joined)
    except TargetError as exc:
        return f"{_not_followed(location)}: {exc}"
    if not _requestable(target.url):  # what HTTP/1.1 cannot carry is refused here, in words
        return f"{_not_followed(location)}: it cannot be sent in an HTTP request"
    return target


def _requestable(url: str) -> bool:
    """ASCII with no space or control character: what a request line can carry."""
    return url.isascii() and not any(c <= " " or c == "\x7f" for c in url)


def _not_followed(location: str) -> str:
    return f"the site redirects to {_shown(location)!r}, which the check did not follow"


def _shown(text: str, limit: int = 200) -> str:
    clean = printable(text)
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def _redirect_failure(next_url: str, seen: set[str], count: int) -> tuple[ErrorKind, str] | None:
    if next_url in seen:
        return ErrorKind.REDIRECT_LOOP, f"redirect {count} goes back to {next_url}"
    if count >= MAX_REDIRECTS:
        return ErrorKind.TOO_MANY_REDIRECTS, f"more than {MAX_REDIRECTS} redirects"
    return None


def _replace_error(sample: HttpSample, kind: ErrorKind, detail: str) -> HttpSample:
    return replace(sample, error=kind, detail=detail)


def _finish(sample: HttpSample, hops: list[Hop], started: float) -> HttpSample:
    total = (time.perf_counter() - started) * 1000
    return replace(sample, redirects=tuple(hops), timings=replace(sample.timings, total_ms=total))


def _first_hop(
    sample: HttpSample, wire: _Wire, verified: bool
) -> tuple[TcpAttempt, TlsResult | None]:
    """What the first hop's connection proves: the TCP outcome and a verified TLS session."""
    url = _Url.parse(sample.url)
    if wire.connected is None:
        attempt = TcpAttempt(
            address=sample.address,
            port=url.port,
            error=sample.error or ErrorKind.OTHER,
            detail=sample.detail,
            ms=(time.perf_counter() - wire.started) * 1000,
        )
        return attempt, None
    attempt = TcpAttempt(address=sample.address, port=url.port, ms=wire.ms(wire.connected) or 0.0)
    if not verified or wire.session is None or wire.tls_done is None:
        return attempt, None
    der, version, cipher = wire.session
    tls = TlsResult(
        address=sample.address,
        port=url.port,
        server_name=url.host,
        version=version,
        cipher=cipher,
        certificate=(certificate_from_peer(wire.peer) if wire.peer else None)
        or parse_certificate(der),
        ms=(wire.tls_done - wire.connected) * 1000,
    )
    return attempt, tls


async def _get_once(
    url: str,
    address: str,
    timeout: float,
    connect_timeout: float,
    context: ssl.SSLContext,
    on_connect: OnConnect | None,
    port: int | None = None,
) -> tuple[HttpSample, _Wire]:
    """One GET on a connection of its own, within `timeout` seconds in all."""
    wire = _Wire()
    parts = _Url.parse(url)
    port = port or parts.port
    writer: asyncio.StreamWriter | None = None
    response: h11.Response | h11.InformationalResponse | None = None
    try:
        reader, writer = await _connect(address, port, min(connect_timeout, timeout), wire)
        if on_connect is not None:
            on_connect(TcpAttempt(address=address, port=port, ms=wire.ms(wire.connected) or 0.0))
        if parts.scheme == "https":
            left = timeout - (time.perf_counter() - wire.started)
            await _handshake(writer, parts.host, context, min(connect_timeout, left), wire)
        left = timeout - (time.perf_counter() - wire.started)
        connection = h11.Connection(h11.CLIENT, max_incomplete_event_size=HEADER_CAP)
        response = await _exchange(reader, writer, connection, parts, left, wire)
        body, truncated, ending = await _read_body(reader, connection, response, wire, timeout)
        sample = HttpSample(
            address=address,
            url=url,
            status=response.status_code,
            reason=printable(response.reason.decode("latin-1")),
            http_version="HTTP/" + response.http_version.decode("ascii", "replace"),
            headers=headers_of(response),
            body=printable(text_of(body, _charset(response)), lines=True),
            body_truncated=truncated,
            timings=_timings(wire),
            ending=ending,
        )
    except _Failed as failed:
        sample = HttpSample(
            address=address,
            url=url,
            error=failed.kind,
            detail=failed.detail,
            timings=_timings(wire),
            ending=failed.ending,
        )
    finally:
        if writer is not None:
            writer.close()
    return sample, wire


async def _connect(
    address: str, port: int, timeout: float, wire: _Wire
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(address, port)
    except TimeoutError:
        raise _Failed(ErrorKind.TIMEOUT, "no answer to the connection attempt") from None
    except OSError as exc:
        raise _Failed(*classify_os_error(exc)) from None
    wire.connected = time.perf_counter()
    return reader, writer


async def _handshake(
    writer: asyncio.StreamWriter, host: str, context: ssl.SSLContext, timeout: float, wire: _Wire
) -> None:
    try:
        async with asyncio.timeout(max(timeout, 0.001)):
            await writer.start_tls(context, server_hostname=host)
    except TimeoutError:  # TCP connected: a stalled handshake is no firewall DROP
        raise _Failed(
            ErrorKind.TLS_HANDSHAKE, "connected, but no answer to the TLS handshake in time"
        ) from None
    except (OSError, EOFError):  # ssl.SSLError is an OSError
        raise _Failed(ErrorKind.TLS_HANDSHAKE, "the TLS handshake failed") from None
    wire.tls_done = time.perf_counter()
    tls = writer.get_extra_info("ssl_object")
    if tls is not None:
        cipher = tls.cipher()
        wire.session = (
            tls.getpeercert(binary_form=True),
            tls.version(),
            cipher[0] if cipher else None,
        )
        wire.peer = tls.getpeercert() or None  # empty unless the context verified it


async def _exchange(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    connection: h11.Connection,
    parts: _Url,
    timeout: float,
    wire: _Wire,
) -> h11.Response | h11.InformationalResponse:
    """Send the request and read up to the final response's headers."""
    try:
        request = h11.Request(
            method="GET", target=parts.target, headers=[("host", parts.authority), *_HEADERS]
        )
        outgoing = connection.send(request) + (connection.send(h11.EndOfMessage()) or b"")
    except (h11.LocalProtocolError, UnicodeError, ValueError) as exc:
        raise _Failed(ErrorKind.OTHER, f"the URL cannot be requested: {exc}") from None
    try:
        async with asyncio.timeout(max(timeout, 0.001)):
            writer.write(outgoing)
            await writer.drain()
            while True:
                event = await _next_event(reader, connection, wire)
                if isinstance(event, h11.Response):
                    return event
                elif isinstance(event, h11.InformationalResponse):
                    if event.status_code == 101:  # switching protocols: no HTTP after it
                        return event
                elif event is h11.PAUSED:
                    raise _Failed(ErrorKind.PROTOCOL, "the server switched protocols")
    except TimeoutError:
        if wire.received:
            detail = f"only {wire.received} bytes arrived before the deadline"
        else:
            detail = "connected, but no response arrived before the deadline"
        raise _Failed(ErrorKind.NO_RESPONSE, detail, Ending.TIMEOUT) from None
    except h11.RemoteProtocolError:
        if wire.received == 0:
            detail = "the server closed the connection without sending a byte"
            raise _Failed(ErrorKind.RESET, detail, Ending.CLOSED) from None
        excerpt = wire.first_bytes[:80].decode("latin-1")
        raise _Failed(
            ErrorKind.PROTOCOL,
            f"the server sent {wire.received} bytes that are not valid HTTP: {excerpt!r}",
        ) from None
    except OSError:
        detail = f"the connection was reset after {wire.received} bytes"
        raise _Failed(ErrorKind.RESET, detail, Ending.RESET) from None


async def _read_body(
    reader: asyncio.StreamReader,
    connection: h11.Connection,
    response: h11.Response | h11.InformationalResponse,
    wire: _Wire,
    timeout: float,
) -> tuple[bytes, bool, Ending]:
    """Read at most BODY_CAP decoded bytes, whatever the encoding layers; never more.

    The raw bytes read are capped too, so a body that inflates to nothing cannot
    keep the sample reading until its deadline. A body cut short (by the server,
    the deadline or a broken encoding) is still evidence, marked truncated.
    """
    if isinstance(response, h11.InformationalResponse):
        return b"", False, Ending.COMPLETE
    encodings = [
        part
        for name, value in response.headers
        if name == b"content-encoding"
        for part in value.decode("latin-1").split(",")
    ]
    decoder = BoundedDecoder(encodings, BODY_CAP)
    chunks: list[bytes] = []
    raw_read = 0
    left = timeout - (time.perf_counter() - wire.started)
    try:
        async with asyncio.timeout(max(left, 0.001)):
            while True:
                event = await _next_event(reader, connection, wire)
                if isinstance(event, h11.Data):
                    raw_read += len(event.data)
                    chunks.append(decoder.feed(bytes(event.data)))
                    if decoder.full or raw_read >= RAW_CAP:
                        return b"".join(chunks), True, Ending.UNKNOWN
                elif isinstance(event, h11.ConnectionClosed):
                    return b"".join(chunks), False, Ending.CLOSED
                else:  # the end of the message, PAUSED or anything else: over for us
                    return b"".join(chunks), False, Ending.COMPLETE
    except TimeoutError:
        return b"".join(chunks), True, Ending.TIMEOUT
    except OSError:
        return b"".join(chunks), True, Ending.RESET
    except h11.RemoteProtocolError:  # closed before the framing said the body ends
        return b"".join(chunks), True, Ending.CLOSED
    except DecodeError:
        return b"".join(chunks), True, Ending.UNKNOWN


async def _next_event(
    reader: asyncio.StreamReader, connection: h11.Connection, wire: _Wire
) -> h11.Event | type[h11.PAUSED]:
    """h11's next event, reading from the network as long as it needs more bytes."""
    while True:
        event = connection.next_event()
        if event is not h11.NEED_DATA:
            return cast("h11.Event | type[h11.PAUSED]", event)
        data = await reader.read(_READ_SIZE)
        wire.saw(data)
        connection.receive_data(data)


def headers_of(response: h11.Response | h11.InformationalResponse) -> tuple[tuple[str, str], ...]:
    """The response's headers as text, names lower-cased, every value printable."""
    return tuple(
        (name.decode("latin-1"), printable(_text(value))) for name, value in response.headers
    )


def _text(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


_CHARSET = re.compile(r";\s*charset\s*=\s*\"?([^\";\s]+)", re.IGNORECASE)


def _charset(response: h11.Response | h11.InformationalResponse) -> str | None:
    for name, value in response.headers:
        if name == b"content-type":
            found = _CHARSET.search(value.decode("latin-1"))
            return found.group(1) if found else None
    return None


def _timings(wire: _Wire) -> Timings:
    connect = wire.ms(wire.connected)
    tls = None
    if wire.tls_done is not None and wire.connected is not None:
        tls = (wire.tls_done - wire.connected) * 1000
    return Timings(connect_ms=connect, tls_ms=tls, first_byte_ms=wire.ms(wire.first_byte))
