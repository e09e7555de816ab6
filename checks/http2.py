"""The HTTP/2 probe: one GET over h2 with httpx, pinned to the vetted address.

Browsers speak HTTP/2 wherever the server offers it by ALPN, so a front whose
h2 is broken (a stream reset, a GOAWAY, a header h2 forbids) fails for most
visitors while an HTTP/1.1 check sees nothing wrong. This probe offers both by
ALPN; when the server picks h2 it records what h2 did. The HTTP/1.1 samples
stay on h11 (checks/http.py), the fast path.

The URL names the address and the Host header and SNI (httpcore's
`sni_hostname`) carry the name, so nothing is resolved again. The kind of
failure is read from the h2 event or exception httpcore raised, by class:
`StreamReset` is RST_STREAM, `ConnectionTerminated` is GOAWAY, an
`h2.exceptions.ProtocolError` while reading is the server breaking the protocol.
"""

from __future__ import annotations

import functools
import ssl
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when a probe runs: a plain-HTTP check never loads them
    import httpx

from checks.http import USER_AGENT
from checks.models import ErrorKind, Http2Result, Target, build_url
from checks.text import printable

RST_STREAM, GOAWAY, PROTOCOL_ERROR = "RST_STREAM", "GOAWAY", "PROTOCOL_ERROR"
BODY_CAP = 64 * 1024  # read and dropped: the h1 samples carry the page
_DETAIL_CAP = 200
NOT_OFFERED_FOR = 3600.0  # seconds a server that chose HTTP/1.1 is not asked again
_not_offered: dict[tuple[str, str, int], float] = {}  # (host, address, port) → until


def worth_probing(target: Target, address: str) -> bool:
    """False for an hour after this server chose HTTP/1.1 by ALPN: the probe's extra
    connection is spent only where h2 is offered (browsers would use it there)."""
    until = _not_offered.get((target.host, address, target.port))
    return until is None or until < time.monotonic()


def _remember(target: Target, result: Http2Result) -> Http2Result:
    key = (target.host, result.address, target.port)
    if result.offered is False:
        if len(_not_offered) > 10_000:
            _not_offered.clear()
        _not_offered[key] = time.monotonic() + NOT_OFFERED_FOR
    elif result.offered:
        _not_offered.pop(key, None)
    return result


@functools.lru_cache(maxsize=1)
def _context() -> ssl.SSLContext:
    """A context of its own (httpcore sets ALPN on the context it is given): no
    verification, since the certificate is the h1 path's evidence; h2's framing is this one's."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def probe(
    target: Target, address: str, timeout: float, port: int | None = None
) -> Http2Result:
    """GET the target's URL from `address` (at `port`, else the target's), offering h2 and
    HTTP/1.1; never raises."""
    return _remember(target, await _probe(target, address, timeout, port or target.port))


async def _probe(target: Target, address: str, timeout: float, port: int) -> Http2Result:
    import httpx

    started = time.perf_counter()
    url = build_url("https", address, port, target.path)
    authority = build_url("https", target.host, target.port).split("://", 1)[1].rstrip("/")
    headers = {"host": authority, "user-agent": USER_AGENT, "accept": "*/*"}
    transport = httpx.AsyncHTTPTransport(verify=_context(), http1=True, http2=True, retries=0)
    version: str | None = None
    status: int | None = None
    try:
        async with (
            httpx.AsyncClient(transport=transport, timeout=max(timeout, 0.001)) as client,
            client.stream(
                "GET", url, headers=headers, extensions={"sni_hostname": target.host}
            ) as response,
        ):
            version, status = response.http_version, response.status_code
            read = 0
            async for chunk in response.aiter_raw():
                read += len(chunk)
                if read >= BODY_CAP:
                    break
        forbidden = _forbidden_headers(response.headers.raw) if version == "HTTP/2" else ()
    except httpx.HTTPError as exc:
        return _failed(address, version, status, exc, started)
    if forbidden:  # httpcore lets these through; browsers refuse the response
        return Http2Result(
            address=address,
            offered=True,
            status=status,
            error=ErrorKind.PROTOCOL,
            frame=PROTOCOL_ERROR,
            code="PROTOCOL_ERROR",
            detail=(
                f"the response carries {', '.join(forbidden)}, which HTTP/2 forbids "
                "(RFC 9113 §8.2.2): browsers reject it as a PROTOCOL_ERROR"
            ),
            ms=_since(started),
        )
    return Http2Result(
        address=address, offered=version == "HTTP/2", status=status, ms=_since(started)
    )


# Connection-specific fields (RFC 9113 §8.2.2) and what else makes a browser's h2 refuse.
_CONNECTION_SPECIFIC = {
    b"connection",
    b"keep-alive",
    b"proxy-connection",
    b"transfer-encoding",
    b"upgrade",
}


def _forbidden_headers(raw: list[tuple[bytes, bytes]]) -> tuple[str, ...]:
    """Response header names that make an HTTP/2 response malformed, as `name: value`."""
    found = []
    for name, value in raw:
        if name.lower() in _CONNECTION_SPECIFIC or name != name.lower():
            shown = printable(f"{name.decode('latin-1')}: {value.decode('latin-1')}")
            found.append(f"`{shown[:80]}`")
    return tuple(found[:5])


def _failed(
    address: str, version: str | None, status: int | None, exc: httpx.HTTPError, started: float
) -> Http2Result:
    """What went wrong, from the h2 event or exception behind httpx's error."""
    import h2.events
    import h2.exceptions

    inner = exc.__cause__.args[0] if exc.__cause__ is not None and exc.__cause__.args else None
    frame = code = None
    if isinstance(inner, h2.events.StreamReset):
        frame, code = RST_STREAM, _code_name(inner.error_code)
        detail = f"the server reset the request's stream (RST_STREAM {code})"
    elif isinstance(inner, h2.events.ConnectionTerminated):
        frame, code = GOAWAY, _code_name(inner.error_code)
        extra = printable((inner.additional_data or b"").decode("utf-8", "replace"))
        detail = f"the server closed the connection (GOAWAY {code})" + (
            f": {extra[:_DETAIL_CAP]}" if extra else ""
        )
    elif isinstance(inner, h2.exceptions.ProtocolError):
        frame, code = PROTOCOL_ERROR, type(inner).__name__
        detail = f"the server broke the HTTP/2 protocol: {printable(str(inner))[:_DETAIL_CAP]}"
    else:
        detail = printable(str(exc))[:_DETAIL_CAP] or type(exc).__name__
    offered = True if frame else (version == "HTTP/2" if version else None)
    return Http2Result(
        address=address,
        offered=offered,
        status=status,
        error=_kind(exc, frame),
        frame=frame,
        code=code,
        detail=detail,
        ms=_since(started),
    )


def _kind(exc: httpx.HTTPError, frame: str | None) -> ErrorKind:
    import httpx

    if frame == PROTOCOL_ERROR:
        return ErrorKind.PROTOCOL
    if frame is not None:
        return ErrorKind.RESET
    if isinstance(exc, httpx.ConnectTimeout):
        return ErrorKind.TIMEOUT
    if isinstance(exc, httpx.TimeoutException):
        return ErrorKind.NO_RESPONSE
    if isinstance(exc, httpx.ConnectError):
        return ErrorKind.REFUSED
    if isinstance(exc, httpx.RemoteProtocolError):
        return ErrorKind.RESET
    return ErrorKind.OTHER


def _code_name(code: object) -> str:
    name = getattr(code, "name", None)
    return name if isinstance(name, str) else str(code)


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
