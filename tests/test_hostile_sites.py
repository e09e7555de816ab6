"""Sites built to hurt the bot, on loopback: bad redirects, odd statuses, decoding bombs.

Each is a real misbehaving server; each check must end in a diagnosis (never a
traceback, never "healthy" for a broken site), inside its deadline and with
bounded memory.
"""

from __future__ import annotations

import datetime
import functools
import gzip
import ipaddress
import ssl
import subprocess
import sys
import tempfile
import time
import zlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from checks.body import BoundedDecoder
from checks.http import redirect_target
from tests.conftest import ROOT, check_json, run_cli
from tests.servers.misbehave import Behaviour, serve


def _evidence(result) -> str:
    return " ".join(line for cause in result.json["causes"] for line in cause["evidence"])


@pytest.mark.parametrize(
    ("location", "why"),
    [
        ("javascript:alert(1)", "a javascript: URL is not a web page"),
        ("data:text/html,<script>x</script>", "a data: URL is not a web page"),
        ("mailto:someone@example.com", "a mailto: URL is not a web page"),
        ("http://xn--zz.com/", "not a valid international host name"),
        ("http://exa\u200bmple.com/", "U+200B ZERO WIDTH SPACE"),
        ("http://127.0.0.1:99999/", "not a number from 1 to 65535"),
        ("http://[::1/", "never closed"),
        ("//[::1/", "not a valid URL"),
        ("http://[127.0.0.1]/", "brackets hold an IPv6 address"),
        ("http://[example.com]/", "brackets hold an IPv6 address"),
        ("http://user:pw@127.0.0.1/", "credentials"),
        ("//a..b/", "empty label"),
    ],
)
def test_a_redirect_the_check_will_not_follow_is_evidence_not_a_crash(location, why):
    with serve(Behaviour.REDIRECT, location=location) as site:
        result = check_json(site.url(), "--timeout", "4")
    assert "Traceback" not in result.stderr and result.stderr == ""
    assert result.code == 1
    assert result.json["verdict"]["status"] == "down"
    assert result.cause == "server_error"
    evidence = _evidence(result)
    assert "the site redirects to" in evidence and "did not follow" in evidence
    assert why in evidence
    assert result.json["http"]["samples"] == [301, 301, 301]


def test_a_redirect_to_a_name_that_does_not_exist_says_so(dns_server):
    with serve(Behaviour.REDIRECT, location="http://gone.test/") as site:
        result = check_json(site.url(), "--timeout", "4", "--resolver", dns_server.address)
    assert result.cause == "server_error" and result.json["verdict"]["status"] == "down"
    assert "its host gone.test does not resolve (nxdomain)" in _evidence(result)


def test_a_sloppy_but_followable_redirect_is_followed_as_a_browser_would():
    with (
        serve(Behaviour.STATUS, status=503) as final,
        serve(Behaviour.REDIRECT, location=final.url("/landing page?q=straße")) as first,
    ):
        result = check_json(first.url(), "--timeout", "4")
    assert result.json["http"]["status"] == 503
    assert result.json["http"]["attempts"][0]["url"].endswith("/landing%20page?q=stra%C3%9Fe")
    assert final.requests[0].target == "/landing%20page?q=stra%C3%9Fe"


@pytest.mark.parametrize("status", [600, 650, 777, 999])
def test_a_status_outside_http_s_range_is_a_problem_not_healthy(status):
    with serve(Behaviour.STATUS, status=status) as site:
        result = check_json(site.url(), "--timeout", "4")
    assert result.code == 1
    assert result.json["verdict"]["status"] == "down"
    assert result.cause == "server_error"
    assert f"{status} is outside HTTP's status range (100–599)" in _evidence(result)


@pytest.mark.parametrize("status", [0, 42, 99])
def test_a_status_below_100_is_not_http_at_all(status):
    with serve(Behaviour.STATUS, status=status) as site:
        result = check_json(site.url(), "--timeout", "4")
    assert result.code == 1 and result.json["verdict"]["status"] != "healthy"


@functools.cache
def _bomb(layers: tuple[str, ...], size: int = 256 * 1024 * 1024) -> bytes:
    """`size` zero bytes compressed once per layer, in Content-Encoding order (streamed)."""
    wbits = {"gzip": 31, "deflate": 15}
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits[layers[0]])
    chunk = b"\0" * (1024 * 1024)
    data = b"".join(compressor.compress(chunk) for _ in range(size // len(chunk)))
    data += compressor.flush()
    for layer in layers[1:]:
        again = zlib.compressobj(9, zlib.DEFLATED, wbits[layer])
        data = again.compress(data) + again.flush()
    return data


_FLAGS = ("--json", "--allow-private", "--timeout")


def _check_in_a_child(url: str, timeout: float) -> tuple[subprocess.CompletedProcess, int, float]:
    """`gateway check` in its own process: (the process, its peak RSS in kB, seconds)."""
    script = (
        "import sys\n"
        "from bot.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "peak = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
        "print('PEAK', peak.split()[1], file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", script, "check", url, *_FLAGS, str(timeout)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    elapsed = time.perf_counter() - started
    peak = int(proc.stderr.split("PEAK ")[1].split()[0])
    return proc, peak, elapsed


@pytest.mark.parametrize(
    "layers",
    [["gzip", "gzip"], ["deflate", "gzip"], ["gzip", "gzip", "gzip"], ["gzip"]],
    ids=lambda layers: "+".join(layers),
)
def test_a_decoding_bomb_keeps_memory_bounded_and_the_deadline(layers):
    body = _bomb(tuple(layers))
    assert len(body) < 300_000  # a small body that claims hundreds of megabytes
    headers = [("Content-Encoding", ", ".join(layers))]
    with serve(Behaviour.STATUS, status=502, body=body, headers=headers) as site:
        proc, peak_kb, elapsed = _check_in_a_child(site.url(), timeout=5)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert peak_kb < 100 * 1024, f"peak RSS {peak_kb} kB"
    # The deadline holds (generous slack for a loaded machine; a bomb took 20+ s on main).
    assert elapsed < 5 + 10


@pytest.mark.parametrize(
    "layers",
    [["gzip"], ["deflate"], ["gzip", "gzip"], ["deflate", "gzip", "gzip", "deflate"]],
    ids=lambda layers: "+".join(layers),
)
def test_the_decoder_never_returns_more_than_its_cap_whatever_the_layers(layers):
    body = _bomb(tuple(layers), size=8 * 1024 * 1024)
    decoder = BoundedDecoder(layers, cap=64 * 1024)
    out = b"".join(decoder.feed(body[i : i + 1000]) for i in range(0, len(body), 1000))
    assert len(out) == 64 * 1024 and out == b"\0" * len(out)


def test_a_raw_deflate_body_decodes_like_a_zlib_wrapped_one():
    raw = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = raw.compress(b"<h1>502 Bad Gateway</h1>") + raw.flush()
    decoder = BoundedDecoder(["deflate"], cap=1024)
    assert decoder.feed(body) == b"<h1>502 Bad Gateway</h1>"


def test_a_small_gzip_page_is_read_whole():
    page = b"<html><body><center>nginx</center> 502 Bad Gateway</body></html>"
    with serve(
        Behaviour.STATUS,
        status=502,
        body=gzip.compress(page),
        headers=[("Content-Encoding", "gzip"), ("Server", "nginx")],
    ) as site:
        result = check_json(site.url(), "--timeout", "4")
    assert result.json["gateway"]["product"] == "nginx"


@pytest.mark.parametrize("charset", ["rot13", "base64", "zlib_codec", "no-such-charset", "utf-16"])
def test_a_bogus_charset_is_read_as_utf_8_not_a_crash(charset):
    headers = [("Content-Type", f"text/html; charset={charset}")]
    with serve(Behaviour.STATUS, status=502, body="<h1>502</h1>", headers=headers) as site:
        result = check_json(site.url(), "--timeout", "4")
    assert result.stderr == ""
    assert result.json["http"]["samples"] == [502, 502, 502]


ESCAPES = "\x1b[2J\x1b]0;pwned\x07\x9b31m\u202e"


def test_no_control_character_from_a_site_reaches_the_terminal():
    body = f"<h1>502 {ESCAPES} Bad Gateway</h1>&#27;[2J &#x9b;1m &#x202e;"
    # HTTP/1.1 header values are latin-1: C1 controls (CSI) travel in them.
    headers = [("Server", "evil\x9b2J"), ("X-Cache", "MISS\x85\x9d")]
    with serve(Behaviour.STATUS, status=502, body=body, headers=headers) as site:
        shown = run_cli("check", site.url(), "--allow-private", "--timeout", "4", "--full")
        as_json = run_cli("check", site.url(), "--allow-private", "--timeout", "4", "--json")
    assert shown.code == 1 and "evil" in shown.stdout
    for output in (shown.stdout, as_json.stdout):
        leaked = [hex(ord(c)) for c in output if _is_control(c) and c != "\n"]
        assert leaked == [], leaked
    assert "\u202e" not in shown.stdout
    assert "\\u009b" in as_json.stdout or "\ufffd" in as_json.stdout  # kept as data, inert


def _is_control(ch: str) -> bool:
    return ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0


def _certificate_with(common_name: str, dns_name: str) -> ssl.SSLContext:
    """A server context whose self-signed certificate says what a hostile owner wrote."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(dns_name), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.NamedTemporaryFile("wb", suffix=".pem") as pem:
        pem.write(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
        pem.write(cert.public_bytes(Encoding.PEM))
        pem.flush()
        context.load_cert_chain(pem.name)
    return context


def test_a_certificate_s_escape_sequences_never_reach_the_terminal():
    context = _certificate_with("clear\x1b[2J\x1b]0;owned\x07\u009b31m", "evil\x1b[2J.test")
    with serve(Behaviour.OK, ssl_context=context) as site:
        url = f"https://127.0.0.1:{site.port}/"
        shown = run_cli("check", url, "--allow-private", "--timeout", "4", "--full")
        as_json = run_cli("check", url, "--allow-private", "--timeout", "4", "--json")
    assert shown.code == 1 and "clear" in shown.stdout  # self-signed: named, not obeyed
    for output in (shown.stdout, as_json.stdout):
        leaked = [hex(ord(c)) for c in output if _is_control(c) and c != "\n"]
        assert leaked == [], leaked
    certificate = as_json.json["tls"]["certificate"]
    assert "\x1b" not in certificate["subject"] and "[2J" in certificate["subject"]
    assert all("\x1b" not in name for name in certificate["sans"])


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.text(max_size=60),
        st.builds(
            lambda scheme, rest: scheme + rest,
            st.sampled_from(["http://", "https://", "//", "/", "", "javascript:", "HTTP://"]),
            st.text(max_size=40),
        ),
    )
)
def test_any_location_header_is_a_place_to_go_or_a_reason_not_to(location):
    found = redirect_target("https://site.example/a/b", location)
    if isinstance(found, str):
        assert "the site redirects to" in found and "\n" not in found
        assert not [c for c in found if _is_control(c)]
    else:
        assert found.scheme in ("http", "https") and found.url.isascii()
