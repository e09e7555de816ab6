"""Certificate and handshake failures, told apart, with certificates from trustme."""

import contextlib
import os
import shutil
import ssl
import subprocess

import pytest
import trustme

from checks.tls import certificate_from_peer, parse_certificate
from tests.conftest import check_json, run_gateway_process
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
    # the samples' own verified handshakes are the TCP and TLS evidence: no extra probes,
    # besides the one GET that offers h2 by ALPN (checks/http2.py)
    with _site(pki, "valid") as site:
        result = check_json(
            f"https://127.0.0.1:{site.port}/", "--ca-bundle", ca_bundle, "--samples", str(samples)
        )
        assert result.code == 0
        assert site.connections == samples + 1
        assert result.json["http2"]["offered"] is False
    assert result.json["tls"]["certificate"]["sans"]
    assert result.json["tcp"][0]["error"] is None


def test_a_certificate_that_does_not_verify_still_gets_the_pages_evidence(pki, ca_bundle):
    with _site(pki, "expired") as site:
        result = check_json(f"https://127.0.0.1:{site.port}/", "--ca-bundle", ca_bundle)
    assert result.cause == "tls_expired"
    assert result.json["http"]["samples"] == [200, 200, 200]


@pytest.mark.parametrize(
    ("organization", "common_name"),
    [
        ("trustme", None),
        ('Acme, Inc. + "Friends" <a;b>', "#weird name "),
        ("Ünïcødé Org", "straße.example"),
    ],
)
def test_a_verified_certificate_reads_as_cryptography_reads_it(organization, common_name):
    # A verified handshake's certificate comes decoded by OpenSSL; it must say what
    # cryptography says of the same bytes (subject, issuer, names, dates).
    ca = trustme.CA(organization_name=organization)
    leaf = ca.issue_cert("localhost", "127.0.0.1", "::1", common_name=common_name)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    leaf.configure_cert(server)
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ca.configure_trust(client)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    c = client.wrap_bio(incoming, outgoing, server_hostname="localhost")
    s = server.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):  # shake hands in memory
        for side in (c, s):
            with contextlib.suppress(ssl.SSLWantReadError):
                side.do_handshake()
        s_in.write(outgoing.read())
        incoming.write(s_out.read())
    from_peer = certificate_from_peer(c.getpeercert())
    assert from_peer is not None
    assert from_peer == parse_certificate(c.getpeercert(binary_form=True))


def _hashed_store(tmp_path, pki):
    """A CA directory laid out as update-ca-certificates does: HASH.0 links and a bundle."""
    store = tmp_path / "certs"
    store.mkdir()
    ca = tmp_path / "ca.pem"
    ca.write_bytes(pki.ca.cert_pem.bytes())
    digest = subprocess.run(
        ["openssl", "x509", "-hash", "-noout", "-in", str(ca)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    shutil.copy(ca, store / f"{digest}.0")
    shutil.copy(ca, store / "ca-certificates.crt")
    return store


@pytest.mark.skipif(not shutil.which("openssl"), reason="needs the openssl tool")
@pytest.mark.parametrize("bundle_inside", [True, False])
def test_the_systems_hashed_ca_directory_is_trusted(pki, tmp_path, bundle_inside):
    # The system's CAs are read from their hashed directory one issuer at a time; a
    # site signed by a CA found only there verifies, with or without the bundle file
    # update-ca-certificates writes beside the links.
    store = _hashed_store(tmp_path, pki)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SSL_CERT", "GATEWAY_"))}
    env["SSL_CERT_DIR"] = str(store)
    if bundle_inside:
        env["SSL_CERT_FILE"] = str(store / "ca-certificates.crt")
    with _site(pki, "valid") as site:
        result = run_gateway_process(
            "check", f"https://127.0.0.1:{site.port}/", "--json", "--allow-private", env=env
        )
    assert result.code == 0, result.stdout + result.stderr
    assert result.json["tls"]["error"] is None
