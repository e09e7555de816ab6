"""Loopback servers that misbehave on purpose.

Every server runs on ONE shared daemon thread with its own asyncio event loop
(started lazily on first use), so a server works the same from a sync test, from
an async test running on another loop, and for a subprocess (a reverse proxy,
``curl``) that connects to it.

    with serve(Behaviour.HANG) as backend:
        ...  # backend.port, backend.url("/x"), len(backend.requests)

Only 127.0.0.0/8 (or ``::1``) is ever bound. Every answer that is HTTP is
HTTP/1.1 with ``Content-Length`` and ``Connection: close``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import errno
import html
import select
import socket
import ssl
import struct
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

__all__ = [
    "BAD_HEADER_BYTES",
    "GARBAGE_BYTES",
    "Behaviour",
    "Closer",
    "Request",
    "ServerHandle",
    "closed_port",
    "hanging_connect",
    "serve",
    "wait_for_port",
]

# Bytes a GARBAGE server sends: no status line, no CRLF structure, a NUL byte.
GARBAGE_BYTES = b"\x00\x13\x37 this is not HTTP at all \xff\xfe\n"
# What a BAD_HEADER server sends: a valid status line, then a header line without a colon.
BAD_HEADER_BYTES = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/plain\r\n"
    b"this header line has no colon\r\n"
    b"Content-Length: 2\r\n"
    b"Connection: close\r\n"
    b"\r\n"
    b"ok"
)

_MAX_HEAD = 64 * 1024
_READ_HEAD_TIMEOUT = 10.0


class Behaviour(enum.StrEnum):
    OK = "ok"  # HTTP/1.1 200 with a small HTML body
    STATUS = "status"  # answer with `status` (+ `headers`, e.g. Retry-After)
    SLOW = "slow"  # wait `delay` seconds, then answer `status`
    HANG = "hang"  # accept, read the request, never answer (until closed)
    CLOSE_EARLY = "close"  # accept, read the request, close without a byte
    RESET = "reset"  # accept, read, then RST (SO_LINGER 0)
    GARBAGE = "garbage"  # send bytes that are not HTTP, then close
    BAD_HEADER = "bad_header"  # valid status line, then a header line without colon
    REDIRECT = "redirect"  # 301 to `location`


@dataclass(frozen=True)
class Request:
    """One request head as the server read it."""

    method: str
    target: str
    version: str
    headers: tuple[tuple[str, str], ...]
    peer: tuple[Any, ...] | None = None

    def header(self, name: str, default: str | None = None) -> str | None:
        low = name.lower()
        for key, value in self.headers:
            if key.lower() == low:
                return value
        return default


# --------------------------------------------------------------------------- loop thread

_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def _get_loop() -> asyncio.AbstractEventLoop:
    """The shared background loop, started on first use (daemon thread)."""
    global _loop
    with _loop_lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            thread = threading.Thread(target=run, name="misbehave-loop", daemon=True)
            thread.start()
            ready.wait(5)
            _loop = loop
        return _loop


def _run(coro: Any, timeout: float = 10.0) -> Any:
    loop = _get_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:  # pragma: no cover - would deadlock
        raise RuntimeError("misbehave: do not call serve()/close() from the server loop itself")
    return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)


# --------------------------------------------------------------------------- server


@dataclass
class ServerHandle:
    host: str
    port: int
    behaviour: Behaviour
    tls: bool = False
    requests: list[Request] = field(default_factory=list)
    connections: int = 0  # TCP connections accepted (a request may never come)
    _server: asyncio.base_events.Server | None = field(default=None, repr=False)
    _writers: set[asyncio.StreamWriter] = field(default_factory=set, repr=False)
    _closed: bool = field(default=False, repr=False)
    _closer: Closer = field(default_factory=lambda: Closer([]), repr=False)
    _cfg: _Config | None = field(default=None, repr=False)

    def switch(
        self,
        behaviour: Behaviour | str,
        *,
        status: int | None = None,
        delay: float | None = None,
        body: bytes | str | None = None,
        headers: Iterable[tuple[str, str]] | None = None,
    ) -> None:
        """Change how the server answers from the next request on (a site breaking, healing)."""
        assert self._cfg is not None
        self.behaviour = self._cfg.behaviour = Behaviour(behaviour)
        if status is not None:
            self._cfg.status = status
        if delay is not None:
            self._cfg.delay = delay
        self._cfg.body = body.encode() if isinstance(body, str) else body
        if headers is not None:
            self._cfg.headers = tuple(headers)

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def url(self, path: str = "/", scheme: str | None = None) -> str:
        scheme = scheme or ("https" if self.tls else "http")
        if not path.startswith("/"):
            path = "/" + path
        return f"{scheme}://{self.netloc}{path}"

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            _run(self._aclose())
        self._closer()

    def refuse(self) -> None:
        """Stop serving and make the port refuse connections from now on.

        Simulates a backend that dies *after* a proxy has started (some proxies
        probe their backends at start, e.g. squid). The port stays bound by a
        non-listening socket, so connect() gets ECONNREFUSED and no one else can
        take the port; ``close()`` releases it.
        """
        self._stop_serving()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self._closer = Closer([sock])

    def blackhole(self) -> None:
        """Stop serving and make connect() to the port hang (see hanging_connect)."""
        self._stop_serving()
        self._closer = _hanging_listener(self.host, self.port)

    def _stop_serving(self) -> None:
        if self._closed:
            raise RuntimeError("server already closed")
        with contextlib.suppress(Exception):
            _run(self._aclose())
        self._closer()

    async def _aclose(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # best effort: never leave a listener behind
        if not self._closed and _loop is not None and not _loop.is_closed():
            with contextlib.suppress(Exception):
                _loop.call_soon_threadsafe(self._server.close)  # type: ignore[union-attr]


def _status_line(status: int) -> bytes:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    return f"HTTP/1.1 {status:03d} {reason}\r\n".encode("latin-1")


def _header_line(name: str, value: str) -> bytes:
    """Latin-1 as HTTP/1.1 intends; UTF-8 when a hostile test needs other characters."""
    line = f"{name}: {value}\r\n"
    try:
        return line.encode("latin-1")
    except UnicodeEncodeError:
        return line.encode("utf-8")


def _default_body(status: int, behaviour: Behaviour) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown"
    title = html.escape(f"{status} {phrase}")
    return (
        f"<!doctype html>\n<html><head><title>{title}</title></head>"
        f"<body><h1>{title}</h1><p>misbehave backend ({behaviour.value})</p></body></html>\n"
    ).encode()


def _response(
    status: int,
    body: bytes,
    headers: Iterable[tuple[str, str]],
    *,
    method: str = "GET",
) -> bytes:
    names = set()
    lines = [_status_line(status)]
    for name, value in headers:
        names.add(name.lower())
        lines.append(_header_line(name, value))
    if "content-type" not in names:
        lines.append(b"Content-Type: text/html; charset=utf-8\r\n")
    if "content-length" not in names:
        lines.append(f"Content-Length: {len(body)}\r\n".encode())
    if "connection" not in names:
        lines.append(b"Connection: close\r\n")
    lines.append(b"\r\n")
    head = b"".join(lines)
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return head
    return head + body


def _parse_head(raw: bytes, peer: Any) -> Request:
    text = raw.decode("latin-1")
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    method, target, version = ([*parts, "", "", ""])[:3]
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    return Request(method, target, version, tuple(headers), tuple(peer) if peer else None)


def _set_linger_zero(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


@dataclass
class _Config:
    behaviour: Behaviour
    status: int
    delay: float
    body: bytes | None
    headers: tuple[tuple[str, str], ...]
    location: str | None


async def _handle(
    handle: ServerHandle,
    cfg: _Config,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
) -> None:
    handle._writers.add(writer)
    handle.connections += 1
    try:
        try:
            raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _READ_HEAD_TIMEOUT)
        except (
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            TimeoutError,
            ConnectionError,
            ssl.SSLError,
            OSError,
        ):
            return  # health-check probe, TLS failure or junk: nothing to answer
        request = _parse_head(raw, writer.get_extra_info("peername"))
        handle.requests.append(request)
        length = request.header("content-length")
        if length and length.isdigit() and int(length) > 0:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(reader.readexactly(int(length)), _READ_HEAD_TIMEOUT)

        b = cfg.behaviour
        if b is Behaviour.HANG:
            # Never answer; wait until the peer goes away or the server closes.
            with contextlib.suppress(Exception):
                while await reader.read(65536):
                    pass
            return
        if b is Behaviour.CLOSE_EARLY:
            return  # finally: close
        if b is Behaviour.RESET:
            _set_linger_zero(writer)
            writer.transport.abort()
            return
        if b is Behaviour.GARBAGE:
            writer.write(cfg.body if cfg.body is not None else GARBAGE_BYTES)
            await writer.drain()
            return
        if b is Behaviour.BAD_HEADER:
            writer.write(cfg.body if cfg.body is not None else BAD_HEADER_BYTES)
            await writer.drain()
            return

        if b is Behaviour.SLOW:
            await asyncio.sleep(cfg.delay)
        status = cfg.status
        headers = list(cfg.headers)
        if b is Behaviour.OK:
            status = 200
        elif b is Behaviour.REDIRECT:
            status = cfg.status if 300 <= cfg.status < 400 else 301
            headers.append(("Location", cfg.location or "/"))
        body = cfg.body if cfg.body is not None else _default_body(status, b)
        writer.write(_response(status, body, headers, method=request.method))
        await writer.drain()
    except (ConnectionError, OSError, ssl.SSLError):
        pass
    finally:
        handle._writers.discard(writer)
        if not writer.transport.is_closing():
            writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), 2)


def serve(
    behaviour: Behaviour | str,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    status: int = 200,
    delay: float = 0.0,
    body: bytes | str | None = None,
    headers: Iterable[tuple[str, str]] | Mapping[str, str] = (),
    location: str | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> ServerHandle:
    """Start a server that behaves as ``behaviour``; use as ``with serve(...) as s``.

    ``status``/``headers``/``body`` shape the answer of OK (status forced to 200),
    STATUS, SLOW and REDIRECT. For GARBAGE and BAD_HEADER ``body`` replaces the
    raw bytes sent. ``delay`` is SLOW's wait in seconds.
    """
    behaviour = Behaviour(behaviour)
    if not _is_loopback(host):
        raise ValueError(f"misbehave servers bind loopback only, not {host!r}")
    if isinstance(headers, Mapping):
        headers = headers.items()
    if isinstance(body, str):
        body = body.encode()
    cfg = _Config(behaviour, status, delay, body, tuple(headers), location)
    handle = ServerHandle(
        host=host, port=0, behaviour=behaviour, tls=ssl_context is not None, _cfg=cfg
    )

    async def start() -> asyncio.base_events.Server:
        return await asyncio.start_server(
            lambda r, w: _handle(handle, cfg, r, w),
            host=host,
            port=port,
            ssl=ssl_context,
            limit=_MAX_HEAD,
            reuse_address=True,
        )

    server = _run(start())
    handle._server = server
    handle.port = server.sockets[0].getsockname()[1]
    return handle


def _is_loopback(host: str) -> bool:
    return host == "localhost" or host == "::1" or host.startswith("127.")


# --------------------------------------------------------------------------- sockets

# Sockets that keep closed_port() ports reserved (bound, never listening) so that no
# other test or daemon can take the port while a test expects "connection refused".
_reserved: list[socket.socket] = []


def closed_port(host: str = "127.0.0.1") -> int:
    """A port on ``host`` where nothing listens: connect() gets ECONNREFUSED at once.

    The port is bound (never listened on) by a socket kept open for the life of
    the process, so nothing else can start listening there in the meantime; Linux
    answers a SYN to a bound-but-not-listening port with RST exactly as for a free one.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    _reserved.append(sock)
    if len(_reserved) > 200:  # bound the number of fds kept
        _reserved.pop(0).close()
    return port


class Closer:
    """Releases what hanging_connect() holds; callable, idempotent, a context manager."""

    def __init__(self, socks: list[socket.socket], port: int = 0):
        self._socks = socks
        self.port = port

    def __call__(self) -> None:
        while self._socks:
            with contextlib.suppress(OSError):
                self._socks.pop().close()

    close = __call__

    def __enter__(self) -> Closer:
        return self

    def __exit__(self, *exc: object) -> None:
        self()


def hanging_connect(host: str = "127.0.0.1") -> tuple[int, Closer]:
    """A port where a TCP connect() hangs (SYNs are dropped) until it times out.

    A socket listens with backlog 0 and never accepts; filler connections are
    made until the accept queue is full (Linux admits backlog+1 = 1). From then
    on the kernel drops further SYNs (the LISTEN overflow path drops the SYN
    before it would consider SYN cookies, so tcp_syncookies=1 does not defeat
    it) and a client's connect() retransmits its SYN until its own timeout.
    Verified by a non-blocking connect that must still be pending after 0.3 s.
    Everything is released by the returned Closer.
    """
    closer = _hanging_listener(host, 0)
    return closer.port, closer


def _hanging_listener(host: str, port: int) -> Closer:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(0)
    port = listener.getsockname()[1]
    held = [listener]
    closer = Closer(held, port)
    try:
        for _ in range(16):
            probe = socket.socket(family, socket.SOCK_STREAM)
            probe.setblocking(False)
            err = probe.connect_ex((host, port))
            if err not in (0, errno.EINPROGRESS):
                probe.close()
                raise OSError(err, f"hanging_connect: unexpected connect error {err}")
            if _connected_within(probe, 0.3):
                held.append(probe)  # filled one accept-queue slot; keep it open
                continue
            probe.close()  # this SYN was dropped: the port now hangs
            return closer
        raise RuntimeError("hanging_connect: accept queue never filled up")
    except BaseException:
        closer()
        raise


def _connected_within(sock: socket.socket, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        _, writable, _ = select.select([], [sock], [], left)
        if writable:
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                raise OSError(err, f"hanging_connect: connect failed ({err})")
            return True


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> bool:
    """True once ``host:port`` accepts TCP connections, False after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return True
        time.sleep(0.05)
    return False
