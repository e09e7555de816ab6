"""Failure → log → `gateway explain` → the right cause, with the real proxies running now.

Each proxy of the lab (tests/servers/proxies.py) fronts misbehaving backends; a
request goes through, and what the proxy wrote meanwhile is handed to the
`gateway explain --json` command as a file, as a person would paste it.
"""

from __future__ import annotations

import time

import pytest

from checks.explain import explain
from tests.conftest import run_cli
from tests.servers.misbehave import Behaviour, closed_port, serve
from tests.servers.proxies import (
    ApacheProxy,
    CaddyProxy,
    HAProxyProxy,
    NginxProxy,
    Proxy,
    VarnishProxy,
    raw_get,
)

pytestmark = pytest.mark.proxy

MODES = {
    "refused": "upstream_refused",
    "hang": "upstream_timeout",
    "close": "upstream_bad_response",
    "none": "no_healthy_upstream",
}


@pytest.fixture(scope="module")
def routes():
    with serve(Behaviour.HANG) as hang, serve(Behaviour.CLOSE_EARLY) as close:
        yield {"refused": closed_port(), "hang": hang.url(), "close": close.url(), "none": None}


@pytest.fixture(
    scope="module",
    params=[NginxProxy, HAProxyProxy, ApacheProxy, VarnishProxy, CaddyProxy],
    ids=lambda c: c.product,
)
def proxy(request, routes):
    kwargs = {"retries": 0} if request.param is HAProxyProxy else {}
    with request.param(routes, **kwargs) as running:
        yield running


def _logged_during(proxy: Proxy, path: str) -> str:
    """What the proxy logs while one request goes through (bounded wait for the line)."""
    before = len(proxy.log_text())
    raw_get(proxy.host, proxy.port, path, timeout=5)
    deadline = time.monotonic() + 5
    while True:
        text = proxy.log_text()[before:]
        if explain(text or " ").findings or time.monotonic() > deadline:
            return text
        time.sleep(0.05)


@pytest.mark.parametrize("mode", sorted(MODES))
def test_a_failure_s_own_log_line_names_its_cause(proxy, mode, tmp_path):
    log = tmp_path / "pasted.log"
    log.write_text(_logged_during(proxy, f"/{mode}/x?token=live-secret"))
    result = run_cli("explain", "--json", str(log))
    assert result.code == 0, (log.read_text(), result.stderr)
    finding = result.json["findings"][0]
    product = {"apache2": "apache"}.get(proxy.product, proxy.product)
    assert (finding["product"], finding["cause"]) == (product, MODES[mode])
    assert "live-secret" not in result.stdout
