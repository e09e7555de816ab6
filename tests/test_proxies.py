"""`gateway check` against real reverse proxies from Debian's packages, failing on purpose.

Each proxy runs on loopback in front of backends that refuse, hang, close early,
send garbage or an invalid header (tests/servers). The check must name the
proxy and put the right cause first; where the proxy's page is the same for
several failures (nginx's 502), the other cause must be ranked next. What each
proxy really answers is recorded in docs/proxy-signatures.md.
"""

from __future__ import annotations

import pytest

from tests.conftest import check_json
from tests.servers.misbehave import Behaviour, closed_port, serve
from tests.servers.proxies import PRODUCTS, Route

pytestmark = pytest.mark.proxy

# product, route, expected top cause, causes that must be listed too
CASES = [
    ("nginx", "refused", "upstream_refused", ["upstream_bad_response"]),
    ("nginx", "hang", "upstream_timeout", []),
    ("nginx", "close", "upstream_refused", ["upstream_bad_response"]),
    ("nginx", "bad_header", "upstream_refused", ["upstream_bad_response"]),
    ("nginx", "none", "upstream_refused", []),
    ("nginx", "limited", "rate_limited", ["service_unavailable"]),
    ("nginx", "tls", "upstream_refused", ["upstream_tls"]),
    ("haproxy", "refused", "upstream_refused", ["no_healthy_upstream"]),
    ("haproxy", "hang", "upstream_timeout", []),
    ("haproxy", "close", "upstream_bad_response", []),
    ("haproxy", "garbage", "upstream_bad_response", []),
    ("haproxy", "none", "no_healthy_upstream", []),
    ("apache", "refused", "upstream_refused", []),
    ("apache", "hang", "upstream_timeout", []),
    ("apache", "close", "upstream_bad_response", []),
    ("apache", "garbage", "upstream_bad_response", []),
    ("apache", "bad_header", "upstream_bad_response", []),
    ("apache", "tls", "upstream_tls", []),
    ("varnish", "refused", "upstream_refused", []),
    ("varnish", "hang", "upstream_timeout", []),
    ("varnish", "close", "upstream_refused", ["upstream_bad_response"]),
    ("caddy", "refused", "upstream_refused", []),
    ("caddy", "hang", "upstream_timeout", []),
    ("caddy", "close", "upstream_refused", ["upstream_bad_response"]),
    ("caddy", "none", "no_healthy_upstream", []),
    ("squid", "died", "upstream_refused", []),
    ("squid", "hang", "upstream_timeout", []),
    ("squid", "close", "upstream_bad_response", []),
    ("squid", "garbage", "upstream_bad_response", []),
]
SUPPORTED = {
    "nginx": {"refused", "hang", "close", "bad_header", "none", "limited", "tls", "ok", "app503"},
    "haproxy": {"refused", "hang", "close", "garbage", "none", "ok", "app503"},
    "apache": {"refused", "hang", "close", "garbage", "bad_header", "tls", "ok", "app503"},
    "varnish": {"refused", "hang", "close", "ok", "app503"},
    "caddy": {"refused", "hang", "close", "none", "ok", "app503"},
    "squid": {"died", "hang", "close", "garbage", "ok", "app503"},
}
LAB_NAME = {"apache": "apache2"}  # the lab names Apache by its Debian package


@pytest.fixture(scope="module")
def backends(pki):
    with (
        serve(Behaviour.OK) as ok,
        serve(Behaviour.HANG) as hang,
        serve(Behaviour.CLOSE_EARLY) as close,
        serve(Behaviour.GARBAGE) as garbage,
        serve(Behaviour.BAD_HEADER) as bad_header,
        serve(Behaviour.STATUS, status=503, headers=(("Retry-After", "30"),)) as app503,
        serve(Behaviour.OK, ssl_context=pki.server_context("valid")) as tls,
        serve(Behaviour.OK) as dying,
    ):
        yield {
            "ok": ok.port,
            "hang": hang.port,
            "close": close.port,
            "garbage": garbage.port,
            "bad_header": bad_header.port,
            "app503": app503.port,
            "refused": closed_port(),
            "limited": ok.port,
            "none": None,
            "tls": tls,
            "died": dying,
        }


class _Lab:
    """Starts each product once, on first use, with the routes it supports."""

    def __init__(self, backends):
        self.backends = backends
        self.proxies = {}

    def route(self, name):
        backend = self.backends[name]
        if name == "tls":
            # verified against the system bundle, which the test CA is not in
            return Route(f"https://127.0.0.1:{backend.port}", verify_tls=True)
        if name == "limited":
            return Route(backend, rate_limit="1r/m")
        if name == "died":
            return Route(backend.port)
        return Route(backend) if backend is not None else None

    def proxy(self, product):
        if product not in self.proxies:
            routes = {name: self.route(name) for name in sorted(SUPPORTED[product])}
            self.proxies[product] = PRODUCTS[LAB_NAME.get(product, product)](routes, timeout=1.0)
            if product == "squid":  # squid only tries a peer that was alive at start
                self.backends["died"].refuse()
        return self.proxies[product]

    def close(self):
        for proxy in self.proxies.values():
            proxy.close()


@pytest.fixture(scope="module")
def lab(backends):
    lab = _Lab(backends)
    yield lab
    lab.close()


@pytest.mark.parametrize(
    ("product", "route", "top", "also"), CASES, ids=[f"{p}-{r}" for p, r, _, _ in CASES]
)
def test_the_check_names_the_proxy_and_the_cause(lab, product, route, top, also):
    proxy = lab.proxy(product)
    if route == "limited":  # the first request passes, the rest are limited
        check_json(proxy.route_url(route, "x"), "--samples", "1")
    result = check_json(proxy.route_url(route, "x"), "--timeout", "8")
    data = result.json
    assert result.code == 1
    assert data["gateway"]["product"] == product, data["gateway"]
    assert result.cause == top, (data["http"], result.codes)
    for code in also:
        assert code in result.codes
    owner = " ".join(data["causes"][0]["fixes"]["owner"]).lower()
    assert owner, "the owner gets steps"


@pytest.mark.parametrize("product", sorted(SUPPORTED))
def test_a_healthy_site_behind_each_proxy(lab, product):
    result = check_json(lab.proxy(product).route_url("ok", "x"))
    assert result.code == 0, result.json["causes"][0]
    assert result.cause == "healthy"


@pytest.mark.parametrize("product", sorted(SUPPORTED))
def test_the_applications_own_503_is_not_blamed_on_the_proxy(lab, product):
    result = check_json(lab.proxy(product).route_url("app503", "x"))
    assert result.cause == "service_unavailable", (result.json["gateway"], result.codes)


def test_nginx_owner_steps_name_the_error_log_line(lab):
    result = check_json(lab.proxy("nginx").route_url("refused", "x"))
    owner = " ".join(result.json["causes"][0]["fixes"]["owner"])
    assert "error.log" in owner and "Connection refused" in owner


def test_the_terminal_report_of_a_real_nginx_502(lab):
    from tests.conftest import run_cli

    url = lab.proxy("nginx").route_url("refused", "x")
    result = run_cli("check", url, "--allow-private", "--full")
    assert result.code == 1
    out = result.stdout
    assert "DOWN" in out and "nginx answered 502" in out
    for section in (
        "What was checked",
        "Likely causes",
        "What the site owner should do",
        "What a visitor can try",
        "hacked",
        "search ranking",
    ):
        assert section in out, section


def test_the_default_report_of_a_nginx_502_fits_one_screen(lab):
    """The verdict, the hop, the top causes and the first steps in 25 lines at 80 columns;
    wrapped lines keep their hanging indent; --full has the rest."""
    from tests.conftest import run_cli

    result = run_cli("check", lab.proxy("nginx").route_url("refused", "x"), "--allow-private")
    lines = result.stdout.splitlines()
    assert result.code == 1
    assert len(lines) <= 25, result.stdout
    assert all(len(line) <= 80 for line in lines), result.stdout
    out = result.stdout
    assert "DOWN" in out and "nginx answered 502" in out
    assert "Where it breaks" in out and "nginx → the server behind it" in out
    assert "Likely causes" in out and "First steps for the site owner" in out
    assert "  1. Confirm the cause in" in out
    assert "--full shows" in out
    assert "hacked" not in out and "search ranking" not in out
    first_step = lines.index(next(line for line in lines if line.startswith("  1. Confirm")))
    assert lines[first_step + 1].startswith("     ") and lines[first_step + 1].strip()
    for line in lines[1:]:  # nothing wraps back to the first column but section titles
        assert not line or line.startswith(" ") or line[0].isupper(), line
