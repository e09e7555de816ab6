"""The test lab works: misbehaving backends do what they say, and each real proxy
answers every failure mode the way docs/proxy-signatures.md records.

Loopback only. Each proxy is started once per module (lazily, on first use).
"""

from __future__ import annotations

import asyncio
import http.client
import re
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
import trustme

from tests.servers.misbehave import (
    BAD_HEADER_BYTES,
    GARBAGE_BYTES,
    Behaviour,
    ServerHandle,
    closed_port,
    hanging_connect,
    serve,
)
from tests.servers.proxies import (
    PRODUCTS,
    HAProxyProxy,
    Proxy,
    Route,
    raw_get,
)

# ----------------------------------------------------------------------------- helpers


def _raw(server: ServerHandle, request: bytes | None = None, timeout: float = 2.0) -> bytes:
    """Send one request on a plain socket and read until EOF."""
    request = request or b"GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    with socket.create_connection((server.host, server.port), timeout=timeout) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_ssl(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
    return ctx


# ------------------------------------------------------------------- misbehave servers


def test_ok_answers_200_with_a_body() -> None:
    with serve(Behaviour.OK) as s:
        conn = http.client.HTTPConnection(s.host, s.port, timeout=2)
        conn.request("GET", "/hello")
        resp = conn.getresponse()
        body = resp.read()
        assert resp.status == 200
        assert resp.getheader("Content-Length") == str(len(body))
        assert b"<html>" in body
        assert [r.target for r in s.requests] == ["/hello"]
        assert s.url("/a") == f"http://127.0.0.1:{s.port}/a"


def test_status_answers_the_status_and_headers() -> None:
    with serve(Behaviour.STATUS, status=503, headers={"Retry-After": "7"}) as s:
        resp = httpx.get(s.url(), timeout=2)
        assert resp.status_code == 503
        assert resp.headers["retry-after"] == "7"
        assert "503 Service Unavailable" in resp.text


def test_slow_waits_then_answers() -> None:
    with serve(Behaviour.SLOW, status=500, delay=0.3) as s:
        start = time.monotonic()
        resp = httpx.get(s.url(), timeout=2)
        assert time.monotonic() - start >= 0.3
        assert resp.status_code == 500


def test_hang_reads_the_request_and_never_answers() -> None:
    with serve(Behaviour.HANG) as s, socket.create_connection((s.host, s.port)) as sock:
        sock.settimeout(0.5)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        with pytest.raises(TimeoutError):
            sock.recv(1)
        deadline = time.monotonic() + 2
        while not s.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(s.requests) == 1


def test_hang_connections_are_closed_with_the_server() -> None:
    s = serve(Behaviour.HANG)
    with socket.create_connection((s.host, s.port), timeout=2) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(0.1)
        s.close()
        assert sock.recv(1) == b""  # closed (or reset) when the server closes


def test_close_early_closes_without_a_byte() -> None:
    with serve(Behaviour.CLOSE_EARLY) as s:
        assert _raw(s) == b""
        assert len(s.requests) == 1


def test_reset_sends_rst() -> None:
    with serve(Behaviour.RESET) as s, pytest.raises(ConnectionResetError):
        _raw(s)


def test_garbage_is_not_http() -> None:
    with serve(Behaviour.GARBAGE) as s:
        data = _raw(s)
        assert data == GARBAGE_BYTES
        assert not data.startswith(b"HTTP/")


def test_bad_header_has_a_line_without_colon() -> None:
    with serve(Behaviour.BAD_HEADER) as s:
        data = _raw(s)
        assert data == BAD_HEADER_BYTES
        head = data.split(b"\r\n\r\n")[0].split(b"\r\n")
        assert head[0] == b"HTTP/1.1 200 OK"
        assert any(b":" not in line for line in head[1:])


def test_redirect_points_to_location() -> None:
    with serve(Behaviour.REDIRECT, location="http://127.0.0.1:1/next") as s:
        resp = httpx.get(s.url(), timeout=2, follow_redirects=False)
        assert resp.status_code == 301
        assert resp.headers["location"] == "http://127.0.0.1:1/next"


def test_tls_server(ca: trustme.CA, server_ssl: ssl.SSLContext) -> None:
    client = ssl.create_default_context()
    ca.configure_trust(client)
    with serve(Behaviour.OK, ssl_context=server_ssl) as s:
        assert s.url().startswith("https://127.0.0.1:")
        assert httpx.get(s.url(), verify=client, timeout=2).status_code == 200
        with pytest.raises(httpx.ConnectError):
            httpx.get(s.url(), timeout=2)  # not in the system trust store


async def test_serve_works_from_an_async_test() -> None:
    with serve(Behaviour.STATUS, status=502) as s:
        reader, writer = await asyncio.open_connection(s.host, s.port)
        writer.write(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        status_line = await asyncio.wait_for(reader.readline(), 2)
        writer.close()
        await writer.wait_closed()
        assert status_line.startswith(b"HTTP/1.1 502 ")


def test_closed_server_refuses() -> None:
    with serve(Behaviour.OK) as s:
        port = s.port
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1)


def test_closed_port_refuses() -> None:
    port = closed_port()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1)


def test_hanging_connect_times_out_instead_of_refusing() -> None:
    port, closer = hanging_connect()
    with closer:
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            socket.create_connection(("127.0.0.1", port), timeout=0.5)
        assert time.monotonic() - start >= 0.45
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1)


def test_refuse_and_blackhole_after_serving() -> None:
    with serve(Behaviour.OK) as a, serve(Behaviour.OK) as b:
        assert httpx.get(a.url(), timeout=2).status_code == 200
        a.refuse()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((a.host, a.port), timeout=1)
        b.blackhole()
        with pytest.raises(TimeoutError):
            socket.create_connection((b.host, b.port), timeout=0.3)


# --------------------------------------------------------------------------- proxies

# What each product answered, as recorded in docs/proxy-signatures.md.
# mode -> (status, checks); a check is ("log", regex on the log lines this request
# added), ("header", "Name: regex") or ("raw", bytes the reply must equal).
Check = tuple[str, str | bytes]
Expect = tuple[int | None, list[Check]]

NGINX: dict[str, Expect] = {
    "ok": (200, []),
    "refused": (502, [("log", r"connect\(\) failed \(111: Connection refused\) while connecting")]),
    "connect_timeout": (
        504,
        [("log", r"upstream timed out \(110: Connection timed out\) while connecting to upstream")],
    ),
    "hang": (
        504,
        [
            (
                "log",
                r"upstream timed out \(110: Connection timed out\) while reading response header",
            )
        ],
    ),
    "close": (502, [("log", r"upstream prematurely closed connection while reading response")]),
    "reset": (502, [("log", r"recv\(\) failed \(104: Connection reset by peer\)")]),
    "garbage": (None, [("raw", GARBAGE_BYTES), ("log", r"upstream sent no valid HTTP/1.0 header")]),
    "bad_header": (502, [("log", r'upstream sent invalid header: "this\\x20\.\.\."')]),
    "backend503": (503, [("header", "Retry-After: 30")]),
    "none": (502, [("log", r"no live upstreams while connecting to upstream")]),
    "tls": (502, [("log", r"upstream SSL certificate verify error: \(21:unable to verify")]),
}
HAPROXY: dict[str, Expect] = {
    "ok": (200, []),
    "refused": (503, [("log", r"b\d+_refused/s1 .* 503 217 - - SC-- ")]),
    "connect_timeout": (503, [("log", r"/s1 .* 503 217 - - sC-- ")]),
    "hang": (504, [("log", r"/s1 .* 504 198 - - sH-- ")]),
    "close": (502, [("log", r"/s1 .* 502 209 - - SH-- ")]),
    "reset": (502, [("log", r"/s1 .* 502 209 - - SH-- ")]),
    "garbage": (502, [("log", r"/s1 .* 502 209 - - PH-- ")]),
    "bad_header": (502, [("log", r"/s1 .* 502 209 - - PH-- ")]),
    "backend503": (503, [("header", "retry-after: 30"), ("log", r" 503 \d+ - - ---- ")]),
    "none": (503, [("log", r"b\d+_none/<NOSRV> .* 503 217 - - SC-- ")]),
    "hc": (503, [("log", r"b\d+_hc/<NOSRV> .* 503 217 - - SC-- ")]),
    "tls": (503, [("log", r"b\d+_tls/s1 .* 503 217 - - SC-- ")]),
}
APACHE: dict[str, Expect] = {
    "ok": (200, []),
    "refused": (503, [("log", r"\(111\)Connection refused: AH00957"), ("log", "AH01114")]),
    "connect_timeout": (503, [("log", r"\(70007\)The timeout specified has expired: AH00957")]),
    "hang": (502, [("log", r"\(70007\)The timeout specified has expired: .*AH01102")]),
    "close": (502, [("log", r"\(20014\)Internal error .*AH01102")]),
    "reset": (502, [("log", r"\(104\)Connection reset by peer: .*AH01102")]),
    "garbage": (502, [("log", r"\(22\)Invalid argument: .*AH01102")]),
    "bad_header": (502, [("log", r"AH01106: bad HTTP/1.1 header returned by /bad_header/x")]),
    "backend503": (503, [("header", "Retry-After: 30")]),
    "none": (503, [("log", r"AH01171: balancer://empty\d+: No workers in balancer")]),
    "tls": (500, [("log", r"AH02039: Certificate Verification: Error \(20\)")]),
}
VARNISH: dict[str, Expect] = {
    "ok": (200, [("header", r"Via: 1\.1 varnish")]),
    "refused": (503, [("log", r"FetchError +backend r\d+: fail errno 111 \(Connection refused\)")]),
    "connect_timeout": (503, [("log", r"FetchError +backend r\d+: fail errno 110")]),
    "hang": (503, [("log", r"FetchError +first byte timeout")]),
    "close": (503, [("log", r"FetchError +HTC eof \(-1\)")]),
    "reset": (503, [("log", r"FetchError +HTC eof \(-1\)")]),
    "garbage": (503, [("log", r"FetchError +HTC eof \(-1\)")]),
    "bad_header": (503, [("log", r"FetchError +http format error")]),
    "backend503": (503, [("header", "Retry-After: 30")]),
    "none": (503, [("log", r"FetchError +No backend")]),
    "hc": (503, [("log", r"FetchError +backend r\d+: unhealthy")]),
}
CADDY: dict[str, Expect] = {
    "ok": (200, []),
    "refused": (502, [("log", r'"msg":"dial tcp 127\.0\.0\.1:\d+: connect: connection refused"')]),
    "connect_timeout": (502, [("log", r'"msg":"dial tcp 127\.0\.0\.1:\d+: i/o timeout"')]),
    "hang": (504, [("log", r'"msg":"net/http: timeout awaiting response headers"')]),
    "close": (502, [("log", r'"msg":"EOF"')]),
    "reset": (502, [("log", r"read: connection reset by peer")]),
    "garbage": (502, [("log", r"malformed HTTP status code")]),
    "bad_header": (502, [("log", r"malformed MIME header: missing colon")]),
    "backend503": (503, [("header", "Retry-After: 30")]),
    "none": (503, [("log", r'"msg":"no upstreams available"')]),
    "hc": (503, [("log", r'"msg":"no upstreams available"')]),
    "tls": (502, [("log", r"x509: certificate signed by unknown authority")]),
}
SQUID: dict[str, Expect] = {
    "ok": (200, [("header", "X-Cache: MISS from lab-squid")]),
    "refused": (503, [("header", "X-Squid-Error: ERR_CONNECT_FAIL 111")]),
    "connect_timeout": (503, [("header", "X-Squid-Error: ERR_CONNECT_FAIL 110")]),
    "refused_at_start": (502, [("header", "X-Squid-Error: ERR_READ_ERROR 0")]),
    "hang": (504, [("header", "X-Squid-Error: ERR_READ_TIMEOUT 0")]),
    "close": (502, [("header", "X-Squid-Error: ERR_ZERO_SIZE_OBJECT 0")]),
    "reset": (502, [("header", "X-Squid-Error: ERR_READ_ERROR 104")]),
    "garbage": (200, [("header", "X-Transformed-From: HTTP/0.9")]),
    "bad_header": (502, [("header", "X-Squid-Error: ERR_INVALID_RESP 0")]),
    "backend503": (503, [("header", "Retry-After: 30")]),
    "none": (502, [("header", "X-Squid-Error: ERR_READ_ERROR 0")]),
}
EXPECTED: dict[str, dict[str, Expect]] = {
    "nginx": NGINX,
    "haproxy": HAPROXY,
    "apache2": APACHE,
    "varnish": VARNISH,
    "caddy": CADDY,
    "squid": SQUID,
}
CASES = [(product, mode) for product, modes in EXPECTED.items() for mode in modes]


@dataclass
class Lab:
    """Backends shared by the module, and one proxy per product started on demand."""

    server_ssl: ssl.SSLContext
    backends: dict[str, ServerHandle] = field(default_factory=dict)
    proxies: dict[str, Proxy | BaseException] = field(default_factory=dict)
    closers: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.backends = {
            "ok": serve(Behaviour.OK),
            "hang": serve(Behaviour.HANG),
            "close": serve(Behaviour.CLOSE_EARLY),
            "reset": serve(Behaviour.RESET),
            "garbage": serve(Behaviour.GARBAGE),
            "bad_header": serve(Behaviour.BAD_HEADER),
            "backend503": serve(Behaviour.STATUS, status=503, headers={"Retry-After": "30"}),
            "tls": serve(Behaviour.OK, ssl_context=self.server_ssl),
        }

    def routes(self, product: str) -> tuple[dict[str, Route | str | int | None], list]:
        b = self.backends
        hang_port, hang_closer = hanging_connect()
        self.closers.append(hang_closer)
        routes: dict[str, Route | str | int | None] = {
            "ok": b["ok"].url(),
            "refused": closed_port(),
            "connect_timeout": hang_port,
            "hang": b["hang"].url(),
            "close": b["close"].url(),
            "reset": b["reset"].url(),
            "garbage": b["garbage"].url(),
            "bad_header": b["bad_header"].url(),
            "backend503": b["backend503"].url(),
            "none": None,
            "hc": Route(closed_port(), health_check=True),
            "tls": Route(b["tls"].url(), verify_tls=True),
            "limited503": Route(b["ok"].url(), rate_limit="1r/m"),
            "limited429": Route(b["ok"].url(), rate_limit="1r/m", limit_status=429),
        }
        dying: list[tuple[ServerHandle, str]] = []
        if product == "squid":
            # squid probes its peers at start and never uses one that failed the
            # probe: to see connect errors the backend must die after squid started.
            routes["refused_at_start"] = routes["refused"]
            died, died_hanging = serve(Behaviour.OK), serve(Behaviour.OK)
            self.backends[f"{product}-died"] = died
            self.backends[f"{product}-died-hanging"] = died_hanging
            routes["refused"] = died.url()
            routes["connect_timeout"] = died_hanging.url()
            dying = [(died, "refuse"), (died_hanging, "blackhole")]
        wanted = set(EXPECTED[product])
        if product == "nginx":
            wanted |= {"hc", "limited503", "limited429"}
        return {k: v for k, v in routes.items() if k in wanted}, dying

    def proxy(self, product: str) -> Proxy:
        if product not in self.proxies:
            cls = PRODUCTS[product]
            cls.find_binary()  # pytest.skip if not installed
            routes, dying = self.routes(product)
            kwargs = {"retries": 0} if cls is HAProxyProxy else {}
            try:
                self.proxies[product] = cls(routes, **kwargs)
            except Exception as exc:
                self.proxies[product] = exc
            for server, action in dying:
                _wait_until(lambda s=server: s.connections > 0, 5)  # squid's start probe
                getattr(server, action)()
        proxy = self.proxies[product]
        if isinstance(proxy, BaseException):
            raise proxy
        return proxy

    def close(self) -> None:
        for proxy in self.proxies.values():
            if isinstance(proxy, Proxy):
                proxy.close()
        for closer in self.closers:
            closer()
        for backend in self.backends.values():
            backend.close()


def _wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture(scope="module")
def lab(server_ssl: ssl.SSLContext) -> Iterator[Lab]:
    the_lab = Lab(server_ssl)
    try:
        yield the_lab
    finally:
        the_lab.close()


def _new_log(proxy: Proxy, before: int, pattern: str, timeout: float = 3.0) -> str:
    """Wait (bounded) for ``pattern`` in what the proxy logged after offset ``before``."""
    text = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = proxy.log_text()[before:]
        if re.search(pattern, text):
            return text
        time.sleep(0.05)
    return text


@pytest.mark.proxy
@pytest.mark.parametrize(("product", "mode"), CASES, ids=[f"{p}-{m}" for p, m in CASES])
def test_proxy_failure_mode(lab: Lab, product: str, mode: str) -> None:
    proxy = lab.proxy(product)
    status, checks = EXPECTED[product][mode]
    before = len(proxy.log_text())
    path = f"/{mode}/x"
    if status is None:  # not an HTTP/1.x reply at all
        data, _ = raw_get(proxy.host, proxy.port, path, timeout=1)
        headers: httpx.Headers = httpx.Headers()
    else:
        resp = httpx.get(proxy.url(path), timeout=15)
        assert resp.status_code == status, resp.text[:500]
        headers = resp.headers
        data = b""
    for kind, expected in checks:
        if kind == "raw":
            assert data == expected
        elif kind == "header":
            name, _, value = str(expected).partition(": ")
            assert re.search(value, headers.get(name, "")), dict(headers)
        else:
            new = _new_log(proxy, before, str(expected))
            assert re.search(str(expected), new), new[-2000:]


@pytest.mark.proxy
@pytest.mark.parametrize("status", [503, 429])
def test_nginx_limit_req(lab: Lab, status: int) -> None:
    proxy = lab.proxy("nginx")
    path = f"/limited{status}/x"
    assert httpx.get(proxy.url(path), timeout=5).status_code == 200
    before = len(proxy.log_text())
    resp = httpx.get(proxy.url(path), timeout=5)
    assert resp.status_code == status
    assert "limiting requests, excess" in _new_log(proxy, before, "limiting requests")


@pytest.mark.proxy
def test_nginx_no_live_upstreams_after_failures(lab: Lab) -> None:
    proxy = lab.proxy("nginx")
    first = httpx.get(proxy.url("/hc/x"), timeout=5)
    before = len(proxy.log_text())
    second = httpx.get(proxy.url("/hc/x"), timeout=5)
    assert (first.status_code, second.status_code) == (502, 502)
    assert "no live upstreams" in _new_log(proxy, before, "no live upstreams")


@pytest.mark.proxy
def test_haproxy_health_check_marked_server_down(lab: Lab) -> None:
    proxy = lab.proxy("haproxy")
    assert re.search(
        r"Server b\d+_hc/s1 is DOWN, reason: Layer4 connection problem", proxy.log_text()
    )


@pytest.mark.proxy
def test_proxy_close_stops_the_process_group() -> None:
    with serve(Behaviour.OK) as ok:
        proxy = PRODUCTS["nginx"](ok.url())
        assert httpx.get(proxy.url("/x"), timeout=5).status_code == 200
        port, proc = proxy.port, proxy.proc
        proxy.close()
        assert proc is not None and proc.poll() is not None
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=1)
        assert not proxy.tmp.exists()
