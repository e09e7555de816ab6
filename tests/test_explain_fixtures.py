"""`gateway explain` on what real proxies wrote (tests/fixtures/logs/, see its README):
every failure mode the lab produces is explained with the right product and cause,
and nothing a client sent (the query string `session=lab-secret`) is ever quoted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.render.explain import slack_messages, to_dict
from checks.explain import explain, read_bytes
from tests.servers.unseen_lab import CASES as UNSEEN_CASES

FIXTURES = Path(__file__).parent / "fixtures" / "logs"

# product folder, mode, the most telling cause, every cause the file may prove (None: no line)
LAB = [
    ("nginx", "refused", "upstream_refused", {"upstream_refused"}),
    ("nginx", "connect_timeout", "upstream_timeout", {"upstream_timeout"}),
    ("nginx", "hang", "upstream_timeout", {"upstream_timeout"}),
    ("nginx", "close", "upstream_bad_response", {"upstream_bad_response"}),
    ("nginx", "reset", "upstream_bad_response", {"upstream_bad_response"}),
    ("nginx", "garbage", "upstream_bad_response", {"upstream_bad_response"}),
    ("nginx", "bad_header", "upstream_bad_response", {"upstream_bad_response"}),
    ("nginx", "none", "no_healthy_upstream", {"no_healthy_upstream"}),
    ("nginx", "hc", "upstream_refused", {"upstream_refused", "no_healthy_upstream"}),
    ("nginx", "tls", "upstream_tls", {"upstream_tls"}),
    ("nginx", "died", "upstream_refused", {"upstream_refused"}),
    ("nginx", "died_hanging", "upstream_timeout", {"upstream_timeout"}),
    ("nginx", "limited503", "rate_limited", {"rate_limited"}),
    ("nginx", "limited429", "rate_limited", {"rate_limited"}),
    ("nginx", "ok", None, set()),
    ("nginx", "backend503", None, set()),
    ("nginx", "startup", None, set()),
    ("haproxy", "refused", "upstream_refused", {"upstream_refused"}),
    ("haproxy", "connect_timeout", "upstream_timeout", {"upstream_timeout"}),
    ("haproxy", "hang", "upstream_timeout", {"upstream_timeout"}),
    ("haproxy", "close", "upstream_bad_response", {"upstream_bad_response"}),
    ("haproxy", "reset", "upstream_bad_response", {"upstream_bad_response"}),
    ("haproxy", "garbage", "upstream_bad_response", {"upstream_bad_response"}),
    ("haproxy", "bad_header", "upstream_bad_response", {"upstream_bad_response"}),
    ("haproxy", "none", "no_healthy_upstream", {"no_healthy_upstream"}),
    ("haproxy", "hc", "no_healthy_upstream", {"no_healthy_upstream"}),
    # HAProxy's httplog says SC-- for a refused connect and for a failed TLS handshake alike
    ("haproxy", "tls", "upstream_refused", {"upstream_refused"}),
    ("haproxy", "died", "upstream_refused", {"upstream_refused"}),
    ("haproxy", "died_hanging", "upstream_timeout", {"upstream_timeout"}),
    ("haproxy", "startup", "no_healthy_upstream", {"no_healthy_upstream"}),
    ("haproxy", "ok", None, set()),
    # ---- with 503: the server's own 503, passed on
    ("haproxy", "backend503", "service_unavailable", {"service_unavailable"}),
    ("apache", "refused", "upstream_refused", {"upstream_refused"}),
    ("apache", "connect_timeout", "upstream_timeout", {"upstream_timeout", "upstream_refused"}),
    ("apache", "hang", "upstream_timeout", {"upstream_timeout", "upstream_bad_response"}),
    ("apache", "close", "upstream_bad_response", {"upstream_bad_response"}),
    ("apache", "reset", "upstream_bad_response", {"upstream_bad_response"}),
    ("apache", "garbage", "upstream_bad_response", {"upstream_bad_response"}),
    ("apache", "bad_header", "upstream_bad_response", {"upstream_bad_response"}),
    ("apache", "none", "no_healthy_upstream", {"no_healthy_upstream"}),
    ("apache", "hc", "upstream_refused", {"upstream_refused"}),
    ("apache", "tls", "upstream_tls", {"upstream_tls"}),
    ("apache", "died", "upstream_refused", {"upstream_refused"}),
    ("apache", "died_hanging", "upstream_timeout", {"upstream_timeout", "upstream_refused"}),
    ("apache", "ok", None, set()),
    ("apache", "startup", None, set()),
    ("varnish", "refused", "upstream_refused", {"upstream_refused"}),
    ("varnish", "connect_timeout", "upstream_timeout", {"upstream_timeout"}),
    ("varnish", "hang", "upstream_timeout", {"upstream_timeout"}),
    ("varnish", "close", "upstream_bad_response", {"upstream_bad_response"}),
    ("varnish", "reset", "upstream_bad_response", {"upstream_bad_response"}),
    ("varnish", "garbage", "upstream_bad_response", {"upstream_bad_response"}),
    ("varnish", "bad_header", "upstream_bad_response", {"upstream_bad_response"}),
    ("varnish", "none", "no_healthy_upstream", {"no_healthy_upstream"}),
    ("varnish", "hc", "no_healthy_upstream", {"no_healthy_upstream"}),
    ("varnish", "died", "upstream_refused", {"upstream_refused"}),
    ("varnish", "died_hanging", "upstream_timeout", {"upstream_timeout"}),
    ("varnish", "ok", None, set()),
    ("varnish", "backend503", None, set()),
    ("caddy", "refused", "upstream_refused", {"upstream_refused"}),
    ("caddy", "connect_timeout", "upstream_timeout", {"upstream_timeout"}),
    ("caddy", "hang", "upstream_timeout", {"upstream_timeout"}),
    ("caddy", "close", "upstream_bad_response", {"upstream_bad_response"}),
    ("caddy", "reset", "upstream_bad_response", {"upstream_bad_response"}),
    ("caddy", "garbage", "upstream_bad_response", {"upstream_bad_response"}),
    ("caddy", "bad_header", "upstream_bad_response", {"upstream_bad_response"}),
    ("caddy", "none", "no_healthy_upstream", {"no_healthy_upstream"}),
    ("caddy", "hc", "no_healthy_upstream", {"no_healthy_upstream"}),
    ("caddy", "tls", "upstream_tls", {"upstream_tls"}),
    ("caddy", "died", "upstream_refused", {"upstream_refused"}),
    ("caddy", "died_hanging", "upstream_timeout", {"upstream_timeout"}),
    ("caddy", "ok", None, set()),
    ("caddy", "startup", None, set()),
]
PRODUCT = {
    "nginx": "nginx",
    "haproxy": "haproxy",
    "apache": "apache",
    "varnish": "varnish",
    "caddy": "caddy",
}


def _explained(path: Path):
    text = path.read_text()
    return explain(text) if text.strip() else None


@pytest.mark.parametrize(
    ("folder", "mode", "top", "causes"), LAB, ids=[f"{f}-{m}" for f, m, _, _ in LAB]
)
def test_the_lab_s_real_log_is_explained(folder, mode, top, causes):
    result = _explained(FIXTURES / folder / f"{mode}.log")
    if top is None:
        assert result is None or not result.findings, result
        return
    assert result.findings[0].cause == top, [(f.cause, f.evidence) for f in result.findings]
    assert {f.cause for f in result.findings} == causes
    assert {f.product for f in result.findings} == {PRODUCT[folder]}
    assert all(f.evidence and f.title and f.owner for f in result.findings)


def test_every_fixture_of_the_lab_is_in_the_table():
    listed = {(folder, mode) for folder, mode, _, _ in LAB}
    # the unseen servers' fixtures have their own table (tests/test_explain_unseen_fixtures.py)
    listed |= {(log, case.name) for case in UNSEEN_CASES for log in case.logs}
    on_disk = {
        (path.parent.name, path.stem)
        for path in FIXTURES.glob("*/*.log")
        if path.parent.name != "documented" and path.read_text().strip()
    }
    assert on_disk <= listed, sorted(on_disk - listed)


DOCUMENTED = [
    (
        "envoy.log",
        "envoy",
        [
            "upstream_refused",
            "no_healthy_upstream",
            "upstream_timeout",
            "upstream_bad_response",
            "upstream_refused",
            "not_found",
        ],
        1,
    ),
    (
        "alb.log",
        "aws_elb",
        [
            "upstream_bad_response",
            "no_healthy_upstream",
            "upstream_timeout",
            "server_error",
            "client_closed",
        ],
        1,
    ),
    (
        "cloudflare.log",
        "cloudflare",
        [
            "upstream_bad_response",
            "upstream_refused",
            "upstream_timeout",
            "upstream_refused",
            "upstream_timeout",
            "upstream_tls",
            "upstream_tls",
            "upstream_refused",
            "upstream_timeout",
        ],
        0,
    ),
    (
        "traefik.log",
        "traefik",
        ["upstream_refused", "upstream_timeout", "no_healthy_upstream", "server_error"],
        0,
    ),
    (
        "gunicorn.log",
        "gunicorn",
        ["upstream_timeout", "upstream_bad_response", "upstream_timeout", "upstream_refused"],
        1,
    ),
    (
        "php-fpm.log",
        "php-fpm",
        ["upstream_overloaded", "upstream_timeout", "upstream_bad_response"],
        1,
    ),
]


@pytest.mark.parametrize(
    ("name", "product", "causes", "unknown"), DOCUMENTED, ids=[d[0] for d in DOCUMENTED]
)
def test_each_documented_format_is_explained_line_by_line(name, product, causes, unknown):
    lines = [
        ln
        for ln in (FIXTURES / "documented" / name).read_text().splitlines()
        if not ln.startswith("#")
    ]
    per_line = [explain(line) for line in lines]
    found = [r.findings[0].cause for r in per_line if r.findings]
    assert found == causes
    assert sum(1 for r in per_line if not r.findings) == unknown
    assert {r.findings[0].product for r in per_line if r.findings} == {product}


def _all_fixture_text() -> str:
    return "\n".join(p.read_text() for p in sorted(FIXTURES.glob("*/*.log")))


def test_nothing_a_client_sent_is_quoted_in_json_or_slack():
    text = _all_fixture_text()
    assert "lab-secret" in text and "doc-secret" in text  # the test can fail
    result = explain(read_bytes(text.encode()))
    assert result.recognized > 100
    answer = json.dumps(to_dict(result)) + json.dumps([m.blocks for m in slack_messages(result)])
    assert "lab-secret" not in answer and "doc-secret" not in answer
    assert "GET /" not in " ".join(f.evidence for f in result.findings)
