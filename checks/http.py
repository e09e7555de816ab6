"""The HTTP probe: one attempt, pinned to a vetted address, redirects followed.

The connection goes to the address that DNS returned and the guard vetted;
the Host header and SNI carry the name, and nothing resolves it a second
time. A recording network stream gives the phase timings and the first bytes
the server sent, which is how "closed without a byte" is told from "sent
something that is not HTTP" without reading an exception's message.
"""

from __future__ import annotations

import re
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, TypeAlias
from urllib.parse import urljoin

import httpcore
import httpx

from checks.body import BoundedDecoder, DecodeError, text_of
from checks.guard import TargetRefused
from checks.models import ErrorKind, Hop, HttpSample, Target, Timings
from checks.target import TargetError, parse_target
from checks.tcp import classify_os_error
from checks.text import printable
from checks.tls import inspecting_context

# httpcore's own alias (not exported): what `socket.setsockopt` takes.
SocketOption: TypeAlias = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)

BODY_CAP = 64 * 1024
RAW_CAP = 1024 * 1024  # bytes read off the wire per sample, whatever they decode to
MAX_REDIRECTS = 10
USER_AGENT = "Mozilla/5.0 (compatible; gateway-check/0.1; +https://github.com/gateway)"
_FIRST_BYTES = 200

# Given a host name, return an address the guard allows, or raise ValueError with the reason.
AddressFor = Callable[[str], Awaitable[str]]


@dataclass
class _Wire:
    """What the network stream saw during one request (internal, mutable)."""

    started: float = field(default_factory=time.perf_counter)
    connected: float | None = None
    tls_done: float | None = None
    first_byte: float | None = None
    received: int = 0
    first_bytes: bytes = b""

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

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        inner = await self._inner.start_tls(ssl_context, server_hostname, timeout)
        self._wire.tls_done = time.perf_counter()
        return _RecordingStream(inner, self._wire)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """Connects to one vetted address whatever host the URL names."""

    def __init__(self, address: str, wire: _Wire) -> None:
        self._address = address
        self._wire = wire
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_tcp(
            self._address,
            port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )
        self._wire.connected = time.perf_counter()
        return _RecordingStream(stream, self._wire)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not probed")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport, with its connection pool given our pinned backend.

    httpx offers no public knob for the network backend, so the pool it builds
    is replaced by one with the same settings; httpx is pinned below 1.0.
    """

    def __init__(self, address: str, wire: _Wire) -> None:
        super().__init__(verify=inspecting_context(), retries=0)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=inspecting_context(),
            max_connections=1,
            max_keepalive_connections=0,
            http1=True,
            http2=False,
            retries=0,
            network_backend=_PinnedBackend(address, wire),
        )


async def fetch(
    url: str, address: str, timeout: float, connect_timeout: float, address_for: AddressFor
) -> HttpSample:
    """GET `url` from `address`, following redirects; never raises for network trouble.

    A redirect the check will not follow is evidence, not a crash: the sample keeps
    the redirect's status and says where it pointed and why it was not followed.
    """
    started = time.perf_counter()
    hops: list[Hop] = []
    seen = {url}
    current_url, current_address = url, address
    current_host = httpx.URL(url).host
    while True:
        left = timeout - (time.perf_counter() - started)
        sample = await _get_once(current_url, current_address, max(left, 0.001), connect_timeout)
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
        httpx.URL(target.url)  # what httpx could not request is refused here, in words
    except TargetError as exc:
        return f"{_not_followed(location)}: {exc}"
    except httpx.InvalidURL as exc:
        return f"{_not_followed(location)}: {exc}"
    return target


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


async def _get_once(url: str, address: str, timeout: float, connect_timeout: float) -> HttpSample:
    """One GET through the pinned transport itself, without httpx's client.

    The client works out where a redirect leads even when told not to follow it,
    and a Location it cannot parse (`javascript:`, a bad IDN, port 99999) raises from
    inside it; here the Location is only read, and `fetch` judges it.
    """
    transport = _PinnedTransport(address, wire := _Wire())
    limits = httpx.Timeout(timeout, connect=min(connect_timeout, timeout))
    headers = {
        "user-agent": USER_AGENT,
        "accept": "text/html,application/xhtml+xml,*/*;q=0.8",
        # Only what checks.body decodes under its cap; never advertise br or zstd.
        "accept-encoding": "gzip, deflate",
        "connection": "close",
    }
    status = None
    try:
        request = httpx.Request(
            "GET", url, headers=headers, extensions={"timeout": limits.as_dict()}
        )
        async with transport:
            response = await transport.handle_async_request(request)
            try:
                status = response.status_code
                body, truncated = await _read_capped(response)
            finally:
                await response.aclose()
            return HttpSample(
                address=address,
                url=url,
                status=status,
                reason=printable(response.reason_phrase),
                http_version=response.http_version,
                headers=tuple(
                    (printable(k), printable(v)) for k, v in response.headers.multi_items()
                ),
                body=printable(text_of(body, response.charset_encoding), lines=True),
                body_truncated=truncated,
                timings=_timings(wire),
            )
    except httpx.HTTPError as exc:
        kind, detail = _classify(exc, wire)
        return HttpSample(
            address=address,
            url=url,
            status=status,
            error=kind,
            detail=detail,
            timings=_timings(wire),
        )
    except httpx.InvalidURL as exc:
        return HttpSample(address=address, url=url, error=ErrorKind.OTHER, detail=str(exc))


async def _read_capped(response: httpx.Response) -> tuple[bytes, bool]:
    """Read at most BODY_CAP decoded bytes, whatever the encoding layers; never more.

    The raw bytes read are capped too, so a body that inflates to nothing cannot
    keep the sample reading until its deadline.
    """
    decoder = BoundedDecoder(
        response.headers.get_list("content-encoding", split_commas=True), BODY_CAP
    )
    chunks: list[bytes] = []
    raw_read = 0
    try:
        async for raw in response.aiter_raw():
            raw_read += len(raw)
            chunks.append(decoder.feed(raw))
            if decoder.full or raw_read >= RAW_CAP:
                return b"".join(chunks), True
    except (httpx.HTTPError, DecodeError):
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
