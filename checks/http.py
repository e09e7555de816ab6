"""The HTTP probe: one attempt, pinned to a vetted address, redirects followed.

The connection goes to the address that DNS returned and the guard vetted;
the Host header and SNI carry the name, and nothing resolves it a second
time. A recording network stream gives the phase timings and the first bytes
the server sent, which is how "closed without a byte" is told from "sent
something that is not HTTP" without reading an exception's message.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import httpcore
import httpx

from checks.models import ErrorKind, Hop, HttpSample, TcpAttempt, Timings, TlsResult
from checks.stream import AsyncioBackend
from checks.tcp import classify_os_error
from checks.tls import inspecting_context, parse_certificate

BODY_CAP = 64 * 1024
MAX_REDIRECTS = 10
USER_AGENT = "Mozilla/5.0 (compatible; gateway-check/0.1; +https://github.com/gateway)"
_FIRST_BYTES = 200

# Given a host name, return an address the guard allows, or raise ValueError with the reason.
AddressFor = Callable[[str], Awaitable[str]]
# Told when the first hop's TCP connection is up, for live progress.
OnConnect = Callable[[TcpAttempt], None]


@dataclass
class _Wire:
    """What the network stream saw during one request (internal, mutable)."""

    started: float = field(default_factory=time.perf_counter)
    connected: float | None = None
    tls_done: float | None = None
    first_byte: float | None = None
    received: int = 0
    first_bytes: bytes = b""
    # (certificate DER, TLS version, cipher) once a handshake completed
    session: tuple[bytes | None, str | None, str | None] | None = None
    on_connect: Callable[[], None] | None = None

    def ms(self, moment: float | None) -> float | None:
        return None if moment is None else (moment - self.started) * 1000


class _RecordingStream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream, wire: _Wire) -> None:
        self._inner = inner
        self._wire = wire

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data = await self._inner.read(max_bytes, timeout)
        if data and self._wire.first_byte is None:
            self._wire.first_byte = time.perf_counter()
        self._wire.received += len(data)
        if len(self._wire.first_bytes) < _FIRST_BYTES:
            self._wire.first_bytes += data[: _FIRST_BYTES - len(self._wire.first_bytes)]
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        inner = await self._inner.start_tls(ssl_context, server_hostname, timeout)
        self._wire.tls_done = time.perf_counter()
        tls = inner.get_extra_info("ssl_object")
        if tls is not None:
            cipher = tls.cipher()
            self._wire.session = (
                tls.getpeercert(binary_form=True),
                tls.version(),
                cipher[0] if cipher else None,
            )
        return _RecordingStream(inner, self._wire)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """Connects to one vetted address whatever host the URL names."""

    def __init__(self, address: str, wire: _Wire) -> None:
        self._address = address
        self._wire = wire
        self._inner = AsyncioBackend()

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        stream = await self._inner.connect_tcp(
            self._address,
            port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )
        self._wire.connected = time.perf_counter()
        if self._wire.on_connect is not None:
            self._wire.on_connect()
        return _RecordingStream(stream, self._wire)

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise httpcore.ConnectError("unix sockets are not probed")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport, with its connection pool given our pinned backend.

    httpx offers no public knob for the network backend, so the pool it builds
    is replaced by one with the same settings; httpx is pinned below 1.0.
    """

    def __init__(self, address: str, wire: _Wire, context: ssl.SSLContext) -> None:
        super().__init__(verify=context, retries=0)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=context,
            max_connections=1,
            max_keepalive_connections=0,
            http1=True,
            http2=False,
            retries=0,
            network_backend=_PinnedBackend(address, wire),
        )


async def fetch(
    url: str,
    address: str,
    timeout: float,
    connect_timeout: float,
    address_for: AddressFor,
    verify: ssl.SSLContext | None = None,
    on_connect: OnConnect | None = None,
) -> HttpSample:
    """GET `url` from `address`, following redirects; never raises for network trouble.

    With `verify`, the first hop's handshake verifies the certificate, and the sample
    carries that TLS session (a failed verification is a TLS_HANDSHAKE error; the
    caller then inspects the certificate on its own). Later hops never verify: the
    redirect's target is evidence, not the site under check.
    """
    started = time.perf_counter()
    hops: list[Hop] = []
    seen = {url}
    current_url, current_address = url, address
    first: tuple[TcpAttempt, TlsResult | None] | None = None
    while True:
        left = timeout - (time.perf_counter() - started)
        context = verify if first is None and verify is not None else inspecting_context()
        sample, wire = await _get_once(
            current_url,
            current_address,
            max(left, 0.001),
            connect_timeout,
            context,
            _connect_reporter(current_url, current_address, on_connect) if first is None else None,
        )
        if first is None:
            first = _first_hop(sample, wire, verify is not None)
        sample = replace(sample, first_connect=first[0], tls=first[1])
        location = sample.header("location") if sample.status in _REDIRECTS else None
        if not location:
            return _finish(sample, hops, started)
        hops.append(Hop(url=current_url, status=sample.status or 0, location=location))
        next_url = str(httpx.URL(current_url).join(location))
        failure = _redirect_failure(next_url, seen, len(hops))
        if failure:
            return _finish(_replace_error(sample, *failure), hops, started)
        seen.add(next_url)
        next_host = httpx.URL(next_url).host
        if next_host != httpx.URL(current_url).host:
            try:
                current_address = await address_for(next_host)
            except ValueError as exc:
                return _finish(
                    _replace_error(sample, ErrorKind.REDIRECT_REFUSED, str(exc)), hops, started
                )
        current_url = next_url


_REDIRECTS = {301, 302, 303, 307, 308}


def _redirect_failure(next_url: str, seen: set[str], count: int) -> tuple[ErrorKind, str] | None:
    if next_url in seen:
        return ErrorKind.REDIRECT_LOOP, f"redirect {count} goes back to {next_url}"
    if count >= MAX_REDIRECTS:
        return ErrorKind.TOO_MANY_REDIRECTS, f"more than {MAX_REDIRECTS} redirects"
    if httpx.URL(next_url).scheme not in ("http", "https"):
        return ErrorKind.REDIRECT_REFUSED, f"redirect to a non-web URL {next_url}"
    return None


def _port_of(url: str) -> int:
    parsed = httpx.URL(url)
    return parsed.port or (443 if parsed.scheme == "https" else 80)


def _connect_reporter(url: str, address: str, on_connect: OnConnect | None):
    if on_connect is None:
        return None
    started = time.perf_counter()

    def connected() -> None:
        ms = (time.perf_counter() - started) * 1000
        on_connect(TcpAttempt(address=address, port=_port_of(url), ms=ms))

    return connected


def _first_hop(
    sample: HttpSample, wire: _Wire, verified: bool
) -> tuple[TcpAttempt, TlsResult | None]:
    """What the first hop's connection proves: the TCP outcome and a verified TLS session."""
    port = _port_of(sample.url)
    if wire.connected is None:
        attempt = TcpAttempt(
            address=sample.address,
            port=port,
            error=sample.error or ErrorKind.OTHER,
            detail=sample.detail,
            ms=(time.perf_counter() - wire.started) * 1000,
        )
        return attempt, None
    attempt = TcpAttempt(address=sample.address, port=port, ms=wire.ms(wire.connected) or 0.0)
    if not verified or wire.session is None or wire.tls_done is None:
        return attempt, None
    der, version, cipher = wire.session
    tls = TlsResult(
        address=sample.address,
        port=port,
        server_name=httpx.URL(sample.url).host,
        version=version,
        cipher=cipher,
        certificate=parse_certificate(der),
        ms=(wire.tls_done - wire.connected) * 1000,
    )
    return attempt, tls


def _replace_error(sample: HttpSample, kind: ErrorKind, detail: str) -> HttpSample:
    return replace(sample, error=kind, detail=detail)


def _finish(sample: HttpSample, hops: list[Hop], started: float) -> HttpSample:
    total = (time.perf_counter() - started) * 1000
    return replace(sample, redirects=tuple(hops), timings=replace(sample.timings, total_ms=total))


async def _get_once(
    url: str,
    address: str,
    timeout: float,
    connect_timeout: float,
    context: ssl.SSLContext,
    on_connect: Callable[[], None] | None,
) -> tuple[HttpSample, _Wire]:
    wire = _Wire(on_connect=on_connect)
    transport = _PinnedTransport(address, wire, context)
    limits = httpx.Timeout(timeout, connect=min(connect_timeout, timeout))
    headers = {"user-agent": USER_AGENT, "accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    status = None
    try:
        async with (
            httpx.AsyncClient(
                transport=transport, timeout=limits, follow_redirects=False, trust_env=False
            ) as client,
            client.stream("GET", url, headers=headers) as response,
        ):
            status = response.status_code
            body, truncated = await _read_capped(response)
            sample = HttpSample(
                address=address,
                url=url,
                status=status,
                reason=response.reason_phrase,
                http_version=response.http_version,
                headers=tuple(response.headers.multi_items()),
                body=body.decode(response.encoding or "utf-8", errors="replace"),
                body_truncated=truncated,
                timings=_timings(wire),
            )
    except httpx.HTTPError as exc:
        kind, detail = _classify(exc, wire)
        sample = HttpSample(
            address=address,
            url=url,
            status=status,
            error=kind,
            detail=detail,
            timings=_timings(wire),
        )
    return sample, wire


async def _read_capped(response: httpx.Response) -> tuple[bytes, bool]:
    """Read at most BODY_CAP decoded bytes; a truncated body is still evidence."""
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size >= BODY_CAP:
                return b"".join(chunks)[:BODY_CAP], True
    except httpx.HTTPError:
        return b"".join(chunks), True
    return b"".join(chunks), False


def _timings(wire: _Wire) -> Timings:
    connect = wire.ms(wire.connected)
    tls = None
    if wire.tls_done is not None and wire.connected is not None:
        tls = (wire.tls_done - wire.connected) * 1000
    return Timings(connect_ms=connect, tls_ms=tls, first_byte_ms=wire.ms(wire.first_byte))


def _classify(exc: httpx.HTTPError, wire: _Wire) -> tuple[ErrorKind, str]:
    """Turn httpx's exception class (and what the wire saw) into our kind."""
    if isinstance(exc, httpx.ConnectTimeout):
        return ErrorKind.TIMEOUT, "no answer to the connection attempt"
    if isinstance(exc, httpx.ReadTimeout | httpx.WriteTimeout | httpx.PoolTimeout):
        if wire.received:
            return ErrorKind.NO_RESPONSE, f"only {wire.received} bytes arrived before the deadline"
        return ErrorKind.NO_RESPONSE, "connected, but no response arrived before the deadline"
    if isinstance(exc, httpx.ConnectError):
        cause = _os_error(exc)
        if wire.connected is not None and wire.tls_done is None:
            return ErrorKind.TLS_HANDSHAKE, "the TLS handshake failed"
        if cause is not None:
            return classify_os_error(cause)
        return ErrorKind.OTHER, "the connection failed"
    if isinstance(exc, httpx.ReadError | httpx.WriteError):
        return ErrorKind.RESET, f"the connection was reset after {wire.received} bytes"
    if isinstance(exc, httpx.RemoteProtocolError):
        if wire.received == 0:
            return ErrorKind.RESET, "the server closed the connection without sending a byte"
        excerpt = wire.first_bytes[:80].decode("latin-1")
        return ErrorKind.PROTOCOL, (
            f"the server sent {wire.received} bytes that are not valid HTTP: {excerpt!r}"
        )
    if isinstance(exc, httpx.TimeoutException):
        return ErrorKind.TIMEOUT, "timed out"
    return ErrorKind.OTHER, type(exc).__name__


def _os_error(exc: BaseException, depth: int = 0) -> OSError | None:
    """The first OSError with an errno under an httpx exception (causes and groups walked)."""
    if depth > 8:
        return None
    if isinstance(exc, OSError) and exc.errno is not None:
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _os_error(inner, depth + 1)
            if found is not None:
                return found
    nested = exc.__cause__ or exc.__context__
    return _os_error(nested, depth + 1) if nested is not None else None
