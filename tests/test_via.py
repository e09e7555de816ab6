"""`check TARGET --via IP`: the edge and each origin asked directly, and the broken link named.

The edge (a CDN answering like Cloudflare, or a real nginx) listens on 127.0.0.2; the
origins on 127.0.0.3 (live) and 127.0.0.4 (nothing listens) on the same port, as
an origin behind a CDN does on its public address.
"""

from __future__ import annotations

import pytest

from tests.conftest import check_json, run_cli
from tests.servers.misbehave import Behaviour, serve
from tests.servers.proxies import NginxProxy

EDGE, LIVE, DEAD = "127.0.0.2", "127.0.0.3", "127.0.0.4"


def _cloudflare(status: int, title: str) -> dict:
    return {
        "status": status,
        "headers": {"Server": "cloudflare", "CF-RAY": "8a1b2c3d4e5f6a7b-AMS"},
        "body": (
            f"<html><head><title>edge.test | {status}: {title}</title></head>"
            f"<body><h1>{title}</h1><p>Cloudflare Ray ID: 8a1b2c3d4e5f6a7b</p></body></html>"
        ),
    }


def _via(dns_server, port: int, *vias: str, scheme: str = "http", flags: tuple = ()):
    dns_server.add_a("edge.test", EDGE)
    args = [f"{scheme}://edge.test:{port}/", "--resolver", dns_server.address, *flags]
    for via in vias:
        args += ["--via", via]
    return check_json(*args)


@pytest.mark.parametrize(
    ("status", "title", "says"),
    [
        (521, "Web server is down", "cannot connect to the origin, which answers directly"),
        (522, "Connection timed out", "gets no answer in time from the origin"),
    ],
)
def test_cloudflare_52x_with_a_live_origin_blames_the_edge_to_origin_link(
    dns_server, status, title, says
):
    with (
        serve(Behaviour.STATUS, host=EDGE, **_cloudflare(status, title)) as edge,
        serve(Behaviour.OK, host=LIVE, port=edge.port) as origin,
    ):
        result = _via(dns_server, edge.port, LIVE)
        asked = len(origin.requests)
    data = result.json
    assert result.code == 1
    assert data["blame"] == "edge_to_origin"
    assert data["gateway"]["product"] == "cloudflare"
    assert data["origins"][0]["via"] == LIVE
    assert data["origins"][0]["verdict"]["status"] == "healthy"
    assert data["origins"][0]["http"]["status"] == 200
    assert f"Cloudflare {says}" in data["link"]["headline"]
    assert asked >= 1  # the origin was asked directly, with the site's Host


def test_cloudflare_521_with_a_dead_origin_blames_the_origin(dns_server):
    with serve(Behaviour.STATUS, host=EDGE, **_cloudflare(521, "Web server is down")) as edge:
        result = _via(dns_server, edge.port, DEAD)
    data = result.json
    assert data["blame"] == "origin"
    assert data["verdict"]["cause"] == "upstream_refused"
    origin = data["origins"][0]
    assert origin["via"] == DEAD and origin["verdict"]["cause"] == "tcp_refused"
    assert origin["gateway"]["product"] is None and origin["http"]["status"] is None
    assert (
        "the origin 127.0.0.4 does not answer when asked directly either"
        in (data["link"]["headline"])
    )


def test_the_origin_gets_the_sites_host_header_and_its_redirects_stay_on_it(dns_server):
    with (
        serve(Behaviour.STATUS, host=EDGE, **_cloudflare(522, "Connection timed out")) as edge,
        serve(Behaviour.REDIRECT, host=LIVE, port=edge.port, status=302, location="/next") as o,
    ):
        result = _via(dns_server, edge.port, LIVE)
        requests = list(o.requests)
    assert [r.header("host") for r in requests[:2]] == [f"edge.test:{edge.port}"] * 2
    assert any(r.target == "/next" for r in requests)  # the redirect went to the origin too
    attempt = result.json["origins"][0]["http"]["attempts"][0]
    assert attempt["address"] == LIVE and attempt["redirects"]


def test_an_origin_that_fails_on_its_own_is_diagnosed_at_that_hop(dns_server):
    """A real nginx edge passes the origin's 503 through; asked directly it says the same.

    The origin answers on nginx's upstream port and on the site's port alike.
    """
    maintenance = {"status": 503, "headers": {"Retry-After": "120"}}
    with (
        serve(Behaviour.STATUS, host=LIVE, **maintenance) as origin,
        NginxProxy(f"http://{LIVE}:{origin.port}", host=EDGE) as edge,
        serve(Behaviour.STATUS, host=LIVE, port=edge.port, **maintenance),
    ):
        result = _via(dns_server, edge.port, LIVE)
    data = result.json
    assert data["blame"] == "origin", data["link"]
    assert data["origins"][0]["verdict"]["cause"] == "service_unavailable"
    assert "fails when asked directly too" in data["link"]["headline"]


def test_a_real_nginx_pointed_at_a_wrong_origin_address_blames_the_link(dns_server):
    with serve(Behaviour.OK, host=DEAD) as elsewhere:
        wrong = f"http://{DEAD}:{elsewhere.port}"
    with (
        NginxProxy(wrong, host=EDGE) as edge,  # nothing listens where nginx sends it
        serve(Behaviour.OK, host=LIVE, port=edge.port),
    ):
        result = _via(dns_server, edge.port, LIVE)
    data = result.json
    assert data["gateway"]["product"] == "nginx"
    assert data["verdict"]["cause"] == "upstream_refused"
    assert data["blame"] == "edge_to_origin"
    assert data["origins"][0]["verdict"]["status"] == "healthy"


def test_an_edge_that_fails_on_its_own_is_blamed(dns_server):
    with serve(Behaviour.OK, host=LIVE) as origin:
        result = _via(dns_server, origin.port, LIVE)  # nothing listens on the edge's address
    data = result.json
    assert data["verdict"]["cause"] == "tcp_refused"
    assert data["blame"] == "edge"


def test_cloudflare_525_with_a_healthy_https_origin_is_tls_between_them(pki, ca_bundle, dns_server):
    with (
        serve(
            Behaviour.STATUS,
            host=EDGE,
            ssl_context=pki.server_context("valid", ("edge.test",)),
            **_cloudflare(525, "SSL handshake failed"),
        ) as edge,
        serve(
            Behaviour.OK,
            host=LIVE,
            port=edge.port,
            ssl_context=pki.server_context("valid", ("edge.test",)),
        ),
    ):
        result = _via(dns_server, edge.port, LIVE, scheme="https", flags=("--ca-bundle", ca_bundle))
    data = result.json
    assert data["verdict"]["cause"] == "upstream_tls"
    assert data["blame"] == "edge_to_origin"
    assert "cannot make a TLS connection to the origin" in data["link"]["headline"]


def test_an_expired_origin_certificate_behind_a_healthy_edge_is_named(pki, ca_bundle, dns_server):
    with (
        serve(
            Behaviour.OK, host=EDGE, ssl_context=pki.server_context("valid", ("edge.test",))
        ) as edge,
        serve(
            Behaviour.OK,
            host=LIVE,
            port=edge.port,
            ssl_context=pki.server_context("expired", ("edge.test",)),
        ),
    ):
        result = _via(dns_server, edge.port, LIVE, scheme="https", flags=("--ca-bundle", ca_bundle))
    data = result.json
    assert data["verdict"]["status"] == "healthy"
    assert data["origins"][0]["verdict"]["cause"] == "tls_expired"
    assert data["blame"] == "origin"
    assert "origin's own certificate" in data["link"]["headline"]
    assert result.code == 1


def test_the_terminal_report_names_the_broken_link_first(dns_server):
    dns_server.add_a("edge.test", EDGE)
    with (
        serve(Behaviour.STATUS, host=EDGE, **_cloudflare(521, "Web server is down")) as edge,
        serve(Behaviour.OK, host=LIVE, port=edge.port),
    ):
        result = run_cli(
            "check",
            f"http://edge.test:{edge.port}/",
            "--allow-private",
            "--resolver",
            dns_server.address,
            "--via",
            LIVE,
        )
    text = " ".join(result.stdout.split())  # rich wraps at the terminal's width
    link = text.index("⇢ edge_to_origin Cloudflare cannot connect to the origin")
    assert link < text.index("Straight to the origin") < text.index(f"via {LIVE}")
    assert text.index(f"via {LIVE}") < text.index("Through the edge")
    assert result.code == 1


@pytest.mark.parametrize(
    ("vias", "says"),
    [
        (["10.0.0.7"], "via refusing 10.0.0.7: 10.0.0.7 is a private address"),
        (["127.0.0.1"], "loopback"),
        (["169.254.169.254"], "cloud metadata"),
        (["origin.example"], "via takes an origin's IP address, not 'origin.example'"),
        ([f"203.0.113.{i}" for i in range(6)], "at most 5 origin addresses"),
    ],
)
def test_an_unusable_via_is_one_line_and_exit_2(vias, says):
    args = ["check", "https://example.com/"]
    for via in vias:
        args += ["--via", via]
    result = run_cli(*args)
    assert result.code == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and says in result.stderr


def test_an_origin_on_a_port_of_its_own_keeps_the_sites_host_header(dns_server):
    """`--via IP:PORT`: the connection goes there, the Host header stays the site's."""
    dns_server.add_a("edge.test", "127.0.0.1")
    with (
        serve(Behaviour.STATUS, **_cloudflare(521, "Web server is down")) as edge,
        serve(Behaviour.OK) as origin,
    ):
        result = check_json(
            f"http://edge.test:{edge.port}/",
            "--resolver",
            dns_server.address,
            "--via",
            f"127.0.0.1:{origin.port}",
        )
        hosts = [r.header("host") for r in origin.requests]
    data = result.json
    assert data["blame"] == "edge_to_origin"
    assert data["origins"][0]["via"] == f"127.0.0.1:{origin.port}"
    assert data["origins"][0]["verdict"]["status"] == "healthy"
    assert hosts and set(hosts) == {f"edge.test:{edge.port}"}
    assert data["origins"][0]["http"]["attempts"][0]["url"] == f"http://edge.test:{edge.port}/"


@pytest.mark.parametrize("via", ["127.0.0.1:0", "127.0.0.1:99999", "[::1]:x", "edge.test:80"])
def test_an_unusable_origin_port_is_one_line(via):
    result = run_cli("check", "http://edge.test/", "--allow-private", "--via", via)
    assert result.code == 2 and len(result.stderr.strip().splitlines()) == 1
