"""The broken link, decided from what the edge and each origin came to: one row per case."""

from __future__ import annotations

import pytest

from checks.blame import Origin, Seen, decide

HEALTHY = Seen("healthy", "healthy", "client", True, "it works from here: HTTP 200")
REFUSED = Seen("down", "tcp_refused", "network", False, "connection refused")
TIMED_OUT = Seen("down", "tcp_timeout", "network", False, "no answer to the connection")
EXPIRED = Seen(
    "down", "tls_expired", "tls", False, "the certificate has expired", None, "has expired"
)
SOON = Seen(
    "healthy", "healthy", "client", True, "it works from here: HTTP 200", None, "expires in 3 days"
)
ORIGIN_503 = Seen("down", "service_unavailable", "service", True, "HTTP 503: maintenance")
ORIGIN_500 = Seen("down", "server_error", "service", True, "HTTP 500: the application failed")
ORIGIN_403 = Seen("down", "forbidden", "service", True, "HTTP 403: only the CDN may ask")


def cdn(cause: str, layer: str = "gateway", status: str = "down") -> Seen:
    return Seen(status, cause, layer, True, f"Cloudflare answered: {cause}", "Cloudflare")


CASES = [
    # (what the edge came to, each origin asked directly, blame, words in the headline)
    (cdn("upstream_refused"), [HEALTHY], "edge_to_origin", "Cloudflare cannot connect"),
    (cdn("upstream_refused"), [REFUSED], "origin", "does not answer when asked directly"),
    (cdn("upstream_timeout"), [HEALTHY], "edge_to_origin", "drops the edge's addresses"),
    (cdn("upstream_timeout"), [TIMED_OUT], "origin", "127.0.0.3"),
    (cdn("upstream_refused"), [ORIGIN_503], "edge_to_origin", "cannot connect"),
    (cdn("no_healthy_upstream"), [HEALTHY], "edge_to_origin", "health check"),
    (cdn("upstream_dns"), [HEALTHY], "edge_to_origin", "origin's host name"),
    (cdn("upstream_tls"), [HEALTHY], "edge_to_origin", "cannot make a TLS connection"),
    (cdn("upstream_tls"), [EXPIRED], "origin", "fails TLS when asked directly too"),
    (cdn("upstream_bad_response"), [ORIGIN_500], "origin", "fails when asked directly too"),
    (cdn("upstream_bad_response"), [HEALTHY], "edge_to_origin", "something between them"),
    (cdn("service_unavailable", "service"), [ORIGIN_503], "origin", "HTTP 503"),
    (cdn("forbidden", "service"), [HEALTHY], "edge", "refuses on its own"),
    (cdn("rate_limited", "service"), [HEALTHY], "edge", "refuses on its own"),
    (cdn("redirect_loop", "http"), [HEALTHY], "edge_to_origin", "Flexible SSL"),
    (cdn("slow_response", "service", "degraded"), [HEALTHY], "edge_to_origin", "answers directly"),
    (cdn("server_error", "service"), [REFUSED], None, "cannot tell"),
    (REFUSED, [HEALTHY], "edge", "fails on its own"),
    (Seen("down", "dns_nxdomain", "dns", False, "the name does not exist"), [HEALTHY], "edge", ""),
    (EXPIRED, [HEALTHY], "edge", "has expired"),
    (HEALTHY, [HEALTHY], None, "straight from the origin"),
    (HEALTHY, [TIMED_OUT], None, "may admit only the edge's addresses"),
    (HEALTHY, [ORIGIN_500], "origin", "still works (from its cache, or another origin)"),
    (HEALTHY, [ORIGIN_403], None, "answers otherwise"),
    (HEALTHY, [EXPIRED], "origin", "origin's own certificate is wrong (127.0.0.3: has expired)"),
    (HEALTHY, [SOON], "origin", "expires in 3 days"),
    # one origin of two fails: it is the one named
    (cdn("upstream_refused"), [HEALTHY, REFUSED], "origin", "127.0.0.4 does not answer"),
    (cdn("upstream_bad_response"), [HEALTHY, ORIGIN_500], "origin", "127.0.0.4 fails"),
]


@pytest.mark.parametrize(("edge", "origins", "blame", "says"), CASES)
def test_the_broken_link(edge, origins, blame, says):
    addresses = [f"127.0.0.{3 + i}" for i in range(len(origins))]
    link = decide(edge, [Origin(a, seen) for a, seen in zip(addresses, origins, strict=True)])
    assert link.blame == blame, link.headline
    assert says in link.headline


def test_no_origin_given_blames_nothing():
    assert decide(cdn("upstream_refused"), []).blame is None


def test_the_failing_origins_are_the_ones_named():
    link = decide(cdn("upstream_refused"), [Origin("a", HEALTHY), Origin("b", REFUSED)])
    assert link.named == ("b",)
