"""The DNS server and TLS helpers used by other tests behave like the real thing."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time

import dns.asyncquery
import dns.asyncresolver
import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.resolver
import pytest

from tests.servers.dns_server import DnsServer
from tests.servers.tls import KINDS, Pki, handshake_failure_context

# ---------------------------------------------------------------------------------------- DNS


@pytest.fixture
def dns_srv():
    with DnsServer() as server:
        yield server


def make_resolver(server: DnsServer, lifetime: float = 2.0) -> dns.asyncresolver.Resolver:
    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = [server.host]
    resolver.port = server.port
    resolver.lifetime = lifetime
    return resolver


def test_address_and_ports(dns_srv):
    assert dns_srv.host == "127.0.0.1"
    assert dns_srv.port > 0
    assert dns_srv.address == f"127.0.0.1:{dns_srv.port}"


async def test_a_and_aaaa(dns_srv):
    dns_srv.add_a("Site.Test", "127.0.0.1", "127.0.0.2")
    dns_srv.add_aaaa("site.test", "::1")
    resolver = make_resolver(dns_srv)

    a = await resolver.resolve("site.test", "A")
    assert sorted(r.address for r in a) == ["127.0.0.1", "127.0.0.2"]
    aaaa = await resolver.resolve("SITE.test", "AAAA")
    assert [r.address for r in aaaa] == ["::1"]
    assert dns_srv.queries == [("site.test", "A"), ("site.test", "AAAA")]
    assert dns_srv.log[0] == ("site.test", "A", "udp")


async def test_cname_chain(dns_srv):
    dns_srv.add_cname("www.site.test", "cdn.site.test")
    dns_srv.add_cname("cdn.site.test", "edge.site.test")
    dns_srv.add_a("edge.site.test", "127.0.0.3")
    dns_srv.add_aaaa("edge.site.test", "::3")
    resolver = make_resolver(dns_srv)

    answer = await resolver.resolve("www.site.test", "A")
    assert [r.address for r in answer] == ["127.0.0.3"]
    assert answer.canonical_name.to_text() == "edge.site.test."
    chain = answer.response.resolve_chaining()
    assert [c.to_text() for c in chain.cnames] == [
        "www.site.test. 300 IN CNAME cdn.site.test.",
        "cdn.site.test. 300 IN CNAME edge.site.test.",
    ]
    answer6 = await resolver.resolve("www.site.test", "AAAA")
    assert [r.address for r in answer6] == ["::3"]
    # Asking for the CNAME itself gives just that record.
    cname = await resolver.resolve("www.site.test", "CNAME")
    assert [r.target.to_text() for r in cname] == ["cdn.site.test."]
    # One query per question: the chain comes in one answer, as from a recursive resolver.
    assert dns_srv.queries == [
        ("www.site.test", "A"),
        ("www.site.test", "AAAA"),
        ("www.site.test", "CNAME"),
    ]


async def test_negative_answers(dns_srv):
    dns_srv.add_a("gone.test", "127.0.0.1")
    dns_srv.nxdomain("gone.test")
    dns_srv.servfail("broken.test")
    dns_srv.nodata("empty.test")
    dns_srv.add_a("site.test", "127.0.0.1")
    dns_srv.add_cname("dangling.test", "nowhere.test")
    dns_srv.add_cname("to-broken.test", "broken.test")
    resolver = make_resolver(dns_srv)

    for name in ("gone.test", "unknown.test", "dangling.test"):
        with pytest.raises(dns.resolver.NXDOMAIN):
            await resolver.resolve(name, "A")
    for name in ("broken.test", "to-broken.test"):
        with pytest.raises(dns.resolver.NoNameservers, match="SERVFAIL"):
            await resolver.resolve(name, "A")
    with pytest.raises(dns.resolver.NoAnswer):
        await resolver.resolve("empty.test", "A")
    with pytest.raises(dns.resolver.NoAnswer):
        await resolver.resolve("empty.test", "AAAA")
    with pytest.raises(dns.resolver.NoAnswer):
        await resolver.resolve("site.test", "MX")


async def test_drop_times_out(dns_srv):
    dns_srv.drop("black.hole.test")
    resolver = make_resolver(dns_srv, lifetime=0.5)
    started = time.monotonic()
    with pytest.raises(dns.resolver.LifetimeTimeout):
        await resolver.resolve("black.hole.test", "A")
    assert 0.4 < time.monotonic() - started < 2
    query = dns.message.make_query("black.hole.test", "A")
    with pytest.raises(dns.exception.Timeout):
        await dns.asyncquery.tcp(query, dns_srv.host, port=dns_srv.port, timeout=0.3)
    assert ("black.hole.test", "A", "tcp") in dns_srv.log


async def test_delay_does_not_block_other_queries(dns_srv):
    dns_srv.add_a("slow.test", "127.0.0.1")
    dns_srv.delay("slow.test", 0.6)
    dns_srv.add_a("fast.test", "127.0.0.2")
    resolver = make_resolver(dns_srv)

    async def timed(name):
        started = time.monotonic()
        answer = await resolver.resolve(name, "A")
        return answer[0].address, time.monotonic() - started

    slow_task = asyncio.create_task(timed("slow.test"))
    await asyncio.sleep(0.05)
    fast_address, fast_time = await timed("fast.test")
    slow_address, slow_time = await slow_task
    assert (fast_address, slow_address) == ("127.0.0.2", "127.0.0.1")
    assert fast_time < 0.3
    assert 0.55 < slow_time < 1.5


async def test_tcp(dns_srv):
    dns_srv.add_cname("www.site.test", "site.test")
    dns_srv.add_a("site.test", "127.0.0.1")
    query = dns.message.make_query("www.site.test", "A")
    response = await dns.asyncquery.tcp(query, dns_srv.host, port=dns_srv.port, timeout=2)
    assert response.id == query.id
    assert response.rcode() == dns.rcode.NOERROR
    assert [rrset.to_text() for rrset in response.answer] == [
        "www.site.test. 300 IN CNAME site.test.",
        "site.test. 300 IN A 127.0.0.1",
    ]
    assert dns_srv.log == [("www.site.test", "A", "tcp")]
    # Several queries on one connection (dnspython reuses the socket when given one).
    with socket.create_connection((dns_srv.host, dns_srv.port), timeout=2) as sock:
        for _ in range(3):
            again = dns.query.tcp(query, dns_srv.host, port=dns_srv.port, sock=sock)
            assert again.answer == response.answer


async def test_truncation_falls_back_to_tcp(dns_srv):
    ips = [f"127.0.{i // 250}.{i % 250 + 1}" for i in range(100)]  # ~1.6 kB of answers
    dns_srv.add_a("big.test", *ips)
    query = dns.message.make_query("big.test", "A")  # no EDNS: 512 bytes max over UDP
    udp = await dns.asyncquery.udp(query, dns_srv.host, port=dns_srv.port, timeout=2)
    assert udp.flags & dns.flags.TC
    assert not udp.answer
    answer = await make_resolver(dns_srv).resolve("big.test", "A")  # retries over TCP
    assert len(answer) == 100
    assert [t for *_, t in dns_srv.log] == ["udp", "udp", "tcp"]


async def test_header_flags_and_edns(dns_srv):
    dns_srv.add_a("site.test", "127.0.0.1")
    query = dns.message.make_query("SiTe.test", "A", use_edns=0, payload=1232)
    response = await dns.asyncquery.udp(query, dns_srv.host, port=dns_srv.port, timeout=2)
    assert response.id == query.id
    assert response.question[0].name.to_text() == "SiTe.test."  # echoed as asked
    assert response.flags & dns.flags.QR
    assert response.flags & dns.flags.RD
    assert response.flags & dns.flags.RA
    assert response.flags & dns.flags.AA
    assert response.edns == 0
    # No EDNS in, no EDNS out; RD echoed as sent.
    plain = dns.message.make_query("site.test", "A")
    plain.flags &= ~dns.flags.RD
    response = await dns.asyncquery.udp(plain, dns_srv.host, port=dns_srv.port, timeout=2)
    assert response.edns == -1
    assert not response.flags & dns.flags.RD
    # A resolver configured for EDNS gets EDNS back.
    resolver = make_resolver(dns_srv)
    resolver.use_edns(0, 0, 1232)
    answer = await resolver.resolve("site.test", "A")
    assert answer.response.edns == 0
    # SERVFAIL is not authoritative.
    dns_srv.servfail("bad.test")
    bad = dns.message.make_query("bad.test", "A")
    response = await dns.asyncquery.udp(bad, dns_srv.host, port=dns_srv.port, timeout=2)
    assert response.rcode() == dns.rcode.SERVFAIL
    assert not response.flags & dns.flags.AA


async def test_two_servers_disagree():
    with DnsServer() as one, DnsServer() as two:
        assert one.port != two.port
        one.add_a("site.test", "127.0.0.1")
        two.add_a("site.test", "127.0.0.9")
        first = await make_resolver(one).resolve("site.test", "A")
        second = await make_resolver(two).resolve("site.test", "A")
        assert first[0].address == "127.0.0.1"
        assert second[0].address == "127.0.0.9"
        assert one.queries == two.queries == [("site.test", "A")]


def test_sync_resolver_and_restart():
    server = DnsServer().start()
    try:
        server.add_a("site.test", "127.0.0.1")
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [server.host]
        resolver.port = server.port
        resolver.lifetime = 2
        assert resolver.resolve("site.test", "A")[0].address == "127.0.0.1"
    finally:
        server.close()
    # A closed server frees its port; the same port can be served again.
    with DnsServer(port=server.port) as again:
        again.add_a("site.test", "127.0.0.5")
        assert resolver.resolve("site.test", "A")[0].address == "127.0.0.5"


# ---------------------------------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def pki():
    return Pki()


def tls_handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, hostname="site.test"):
    """Handshake over loopback with a one-shot stdlib TLS server thread; return the version.

    Raises what the client raised. The server's own error is ignored (it is the mirror image).
    """
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)

    def serve():
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(5)
            try:
                with server_ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.sendall(b"hello")
            except (ssl.SSLError, OSError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with (
            socket.create_connection(listener.getsockname(), timeout=5) as sock,
            client_ctx.wrap_socket(sock, server_hostname=hostname) as tls,
        ):
            assert tls.recv(5) == b"hello"
            return tls.version()
    finally:
        thread.join(5)
        listener.close()


def test_valid_verifies(pki):
    assert tls_handshake(pki.server_context("valid"), pki.client_context()) == "TLSv1.3"
    assert tls_handshake(pki.server_context("valid"), pki.client_context(), "127.0.0.1")


def test_default_client_does_not_trust_test_ca(pki):
    with pytest.raises(ssl.SSLCertVerificationError) as info:
        tls_handshake(pki.server_context("valid"), ssl.create_default_context())
    assert info.value.verify_code == 20


@pytest.mark.parametrize(
    ("kind", "code", "message"),
    [
        ("expired", 10, "certificate has expired"),
        ("not_yet_valid", 9, "certificate is not yet valid"),
        ("wrong_name", 62, "Hostname mismatch"),
        ("self_signed", 18, "self-signed certificate"),
        ("unknown_ca", 20, "unable to get local issuer certificate"),
        ("missing_intermediate", 20, "unable to get local issuer certificate"),
    ],
)
def test_certificate_failures(pki, kind, code, message):
    with pytest.raises(ssl.SSLCertVerificationError) as info:
        tls_handshake(pki.server_context(kind), pki.client_context())
    assert info.value.verify_code == code
    assert message in info.value.verify_message


def test_ip_not_covered(pki):
    with pytest.raises(ssl.SSLCertVerificationError) as info:
        tls_handshake(
            pki.server_context("valid", ("site.test",)), pki.client_context(), "127.0.0.1"
        )
    assert info.value.verify_code == 64


def test_all_kinds_tested():
    assert set(KINDS) == {
        "valid",
        "expired",
        "not_yet_valid",
        "wrong_name",
        "self_signed",
        "unknown_ca",
        "missing_intermediate",
    }
    with pytest.raises(ValueError):
        Pki().server_context("bogus")


@pytest.mark.parametrize(
    ("reason", "alert"),
    [
        ("protocol_version", "TLSV1_ALERT_PROTOCOL_VERSION"),
        ("no_shared_cipher", "SSLV3_ALERT_HANDSHAKE_FAILURE"),
    ],
)
def test_handshake_failure(pki, reason, alert):
    for client in (ssl.create_default_context(), pki.client_context()):
        with pytest.raises(ssl.SSLError) as info:
            tls_handshake(handshake_failure_context(pki, reason), client)
        assert not isinstance(info.value, ssl.SSLCertVerificationError)
        assert info.value.reason == alert
    # Without a Pki it still works (it makes its own certificate).
    with pytest.raises(ssl.SSLError) as info:
        tls_handshake(handshake_failure_context(), ssl.create_default_context())
    assert info.value.reason == "TLSV1_ALERT_PROTOCOL_VERSION"


def test_ca_pem_path(pki, tmp_path):
    path = pki.ca_pem_path(tmp_path)
    client = ssl.create_default_context(cafile=path)
    assert tls_handshake(pki.server_context("valid"), client) == "TLSv1.3"
