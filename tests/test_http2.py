"""HTTP/2: probed when the server offers it by ALPN; "broken over h2, fine over HTTP/1.1" named."""

from __future__ import annotations

from tests.conftest import check_json
from tests.servers.h2 import BrokenH2, Nghttpx
from tests.servers.misbehave import Behaviour, serve


def _check(dns_server, port: int, ca_bundle: str):
    dns_server.add_a("site.test", "127.0.0.1")
    return check_json(
        f"https://site.test:{port}/", "--resolver", dns_server.address, "--ca-bundle", ca_bundle
    )


def test_a_healthy_nghttpx_front_answers_over_h2_and_http1(pki, ca_bundle, dns_server):
    with serve(Behaviour.OK) as backend, Nghttpx(pki, backend.port) as front:
        result = _check(dns_server, front.port, ca_bundle)
    data = result.json
    assert result.code == 0, data["causes"][0]
    assert data["http2"]["offered"] is True and data["http2"]["status"] == 200
    assert data["http2"]["error"] is None
    assert data["http"]["attempts"][0]["http_version"] == "HTTP/1.1"  # h11 stays the fast path
    assert any(c["layer"] == "http2" and c["ok"] for c in data["checks"])


def test_nghttpx_adding_a_connection_header_breaks_h2_but_not_http1(pki, ca_bundle, dns_server):
    """`connection: close` is fine in HTTP/1.1 and malformed in h2 (RFC 9113 §8.2.2)."""
    with (
        serve(Behaviour.OK) as backend,
        Nghttpx(pki, backend.port, extra=("--add-response-header=connection: close",)) as front,
    ):
        result = _check(dns_server, front.port, ca_bundle)
    data = result.json
    assert data["http"]["samples"] == [200, 200, 200]
    assert data["http2"]["frame"] == "PROTOCOL_ERROR"
    assert data["verdict"]["cause"] == "connection_reset"
    assert data["verdict"]["status"] == "degraded"
    assert (
        "broken over HTTP/2 (PROTOCOL_ERROR PROTOCOL_ERROR), fine over HTTP/1.1"
        in (data["verdict"]["summary"])
    )
    assert any("connection: close" in line for line in data["causes"][0]["evidence"])


def test_a_server_that_resets_every_h2_stream(pki, ca_bundle, dns_server):
    with BrokenH2(pki, "reset") as site:
        result = _check(dns_server, site.port, ca_bundle)
    data = result.json
    assert data["http"]["samples"] == [200, 200, 200]
    assert data["http2"]["frame"] == "RST_STREAM" and data["http2"]["code"] == "PROTOCOL_ERROR"
    assert data["verdict"]["cause"] == "connection_reset"
    assert "RST_STREAM PROTOCOL_ERROR" in data["verdict"]["summary"]


def test_a_server_that_answers_h2_with_goaway(pki, ca_bundle, dns_server):
    with BrokenH2(pki, "goaway") as site:
        result = _check(dns_server, site.port, ca_bundle)
    data = result.json
    assert data["http2"]["frame"] == "GOAWAY"
    assert data["verdict"]["cause"] == "connection_reset"
    assert "GOAWAY PROTOCOL_ERROR" in data["verdict"]["summary"]
    assert "bad <!channel>" in data["http2"]["detail"]  # quoted, then escaped by each renderer


def test_a_server_without_h2_is_not_probed_over_h2(pki, ca_bundle, dns_server):
    with serve(Behaviour.OK, ssl_context=pki.server_context("valid", ("site.test",))) as site:
        result = _check(dns_server, site.port, ca_bundle)
    data = result.json
    assert result.code == 0
    assert data["http2"]["offered"] is False
    assert any(c["layer"] == "http2" and c["ok"] is None for c in data["checks"])
