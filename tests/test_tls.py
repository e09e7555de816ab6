"""Certificate and handshake failures, told apart, with certificates from trustme."""

import pytest

from tests.conftest import check_json
from tests.servers.misbehave import Behaviour, serve
from tests.servers.tls import handshake_failure_context


def _site(pki, kind):
    return serve(Behaviour.OK, ssl_context=pki.server_context(kind))


def test_a_valid_certificate_from_an_extra_ca_is_healthy(pki, ca_bundle):
    with _site(pki, "valid") as site:
        result = check_json(f"https://127.0.0.1:{site.port}/", "--ca-bundle", ca_bundle)
    assert result.code == 0, result.json["causes"][0]
    tls = result.json["tls"]
    assert tls["error"] is None and tls["version"].startswith("TLS")
    assert "127.0.0.1" in tls["certificate"]["sans"]
    assert result.json["http"]["attempts"][0]["timings_ms"]["tls_ms"] is not None


@pytest.mark.parametrize(
    ("kind", "cause", "says"),
    [
        ("expired", "tls_expired", "expired"),
        ("not_yet_valid", "tls_expired", "not yet valid"),
        ("wrong_name", "tls_hostname_mismatch", "mismatch"),
        ("self_signed", "tls_untrusted", "self-signed"),
        ("unknown_ca", "tls_untrusted", "local issuer"),
    ],
)
def test_certificate_problems_are_named(pki, ca_bundle, dns_server, kind, cause, says):
    dns_server.add_a("site.test", "127.0.0.1")
    with _site(pki, kind) as site:
        result = check_json(
            f"https://site.test:{site.port}/",
            "--ca-bundle",
            ca_bundle,
            "--resolver",
            dns_server.address,
        )
    assert result.cause == cause
    assert result.json["verdict"]["status"] == "down"
    top = result.json["causes"][0]
    assert says in " ".join(top["evidence"])
    # the certificate was read although it failed to verify
    assert result.json["tls"]["certificate"]["subject"]


def test_the_certificate_is_read_to_say_what_it_covers(pki, ca_bundle, dns_server):
    dns_server.add_a("site.test", "127.0.0.1")
    with _site(pki, "wrong_name") as site:
        result = check_json(
            f"https://site.test:{site.port}/",
            "--ca-bundle",
            ca_bundle,
            "--resolver",
            dns_server.address,
        )
    assert result.json["tls"]["certificate"]["sans"] == ["other.test"]
    assert "other.test" in " ".join(result.json["causes"][0]["evidence"])


def test_an_untrusted_ca_without_the_bundle(pki):
    with _site(pki, "valid") as site:
        result = check_json(f"https://127.0.0.1:{site.port}/")
    assert result.cause == "tls_untrusted"


def test_a_failed_handshake(pki, ca_bundle):
    with serve(Behaviour.OK, ssl_context=handshake_failure_context(pki)) as site:
        result = check_json(f"https://127.0.0.1:{site.port}/", "--ca-bundle", ca_bundle)
    assert result.cause == "tls_handshake_failed"
    assert "handshake" in " ".join(result.json["causes"][0]["evidence"])


def test_the_page_behind_a_bad_certificate_is_still_reported(pki, ca_bundle):
    with serve(Behaviour.STATUS, status=502, ssl_context=pki.server_context("expired")) as site:
        result = check_json(f"https://127.0.0.1:{site.port}/", "--ca-bundle", ca_bundle)
    assert result.cause == "tls_expired"
    assert result.json["http"]["samples"] == [502, 502, 502]


@pytest.mark.parametrize("samples", [1, 3])
def test_a_healthy_https_check_opens_one_connection_per_sample(pki, ca_bundle, samples):
    # the samples' own verified handshakes are the TCP and TLS evidence: no extra probes
    with _site(pki, "valid") as site:
        result = check_json(
            f"https://127.0.0.1:{site.port}/", "--ca-bundle", ca_bundle, "--samples", str(samples)
        )
        assert result.code == 0
        assert site.connections == samples
    assert result.json["tls"]["certificate"]["sans"]
    assert result.json["tcp"][0]["error"] is None


def test_a_certificate_that_does_not_verify_still_gets_the_pages_evidence(pki, ca_bundle):
    with _site(pki, "expired") as site:
        result = check_json(f"https://127.0.0.1:{site.port}/", "--ca-bundle", ca_bundle)
    assert result.cause == "tls_expired"
    assert result.json["http"]["samples"] == [200, 200, 200]
