"""Which link is broken, the edge, the origin or the path between them. Pure.

`check TARGET --via IP` sends the request twice: the usual way (through
whatever answers for the name, a CDN or a load balancer: "the edge") and
straight to each origin address with the same Host and SNI. Comparing the two
outcomes names the broken link, as a person doing CDN triage with
`curl --connect-to` would: an origin that answers directly behind an edge that
cannot reach it is a firewall, a wrong origin address or TLS between them; an
origin that fails directly too is the origin's own fault.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

EDGE = "edge"
EDGE_TO_ORIGIN = "edge_to_origin"
ORIGIN = "origin"

# The edge answered, and says it could not get an answer from behind it.
_CANNOT_REACH = {
    "upstream_refused": (
        "cannot connect to the origin, which answers directly: a firewall that refuses "
        "the edge's addresses, or a wrong origin address at the edge"
    ),
    "upstream_timeout": (
        "gets no answer in time from the origin, which answers directly: a firewall that "
        "drops the edge's addresses, or a wrong origin address at the edge"
    ),
    "no_healthy_upstream": (
        "finds no healthy origin, yet the origin answers directly: the edge's health check "
        "or its origin address is wrong, or a firewall keeps the edge out"
    ),
    "upstream_dns": (
        "cannot resolve the origin's name, and the origin answers at this address: "
        "fix the origin's host name at the edge"
    ),
}
_EDGE_LAYERS = {"dns", "network", "tls"}  # the edge's own name, address or certificate
_EDGE_POLICY = {"forbidden", "rate_limited"}  # refusals an edge makes on its own
# What an origin says to a request that did not come through its edge: not a fault
_ORIGIN_POLICY = {"forbidden", "not_found", "rate_limited", "redirect_loop", "healthy"}


@dataclass(frozen=True)
class Seen:
    """What one request (through the edge, or straight to an origin) came to."""

    status: str  # healthy, degraded or down
    cause: str  # the top cause code
    layer: str  # that cause's layer (dns, network, tls, http, gateway, service, client)
    answered: bool  # any HTTP response at all
    summary: str = ""
    product: str | None = None  # the product that answered, by name ("Cloudflare")
    cert_problem: str | None = None  # "has expired", "expires in 5 days"…; None when fine


@dataclass(frozen=True)
class Origin:
    via: str
    seen: Seen


@dataclass(frozen=True)
class Link:
    """The verdict on the chain: `blame` as the JSON says it, and the headline."""

    blame: str | None
    headline: str
    named: tuple[str, ...] = ()  # the origin addresses the headline is about


def decide(edge: Seen, origins: Sequence[Origin]) -> Link:
    """Name the broken link from the edge's outcome and each origin's, asked directly."""
    if not origins:
        return Link(None, "")
    if edge.status == "healthy":
        return _healthy_edge(edge, origins)
    name = edge.product or "the edge"
    if edge.layer in _EDGE_LAYERS:
        return Link(EDGE, f"{name} fails on its own: {_lower(edge.summary)}")
    silent = [o for o in origins if not o.seen.answered]
    if edge.cause in _CANNOT_REACH or edge.cause == "upstream_tls":
        bad_tls = [o for o in origins if o.seen.layer == "tls" or o.seen.cert_problem]
        if edge.cause == "upstream_tls" and bad_tls:
            return _origin_fails(bad_tls, "fails TLS when asked directly too")
        if silent:
            return _origin_fails(silent, "does not answer when asked directly either")
        if edge.cause == "upstream_tls":
            return _to_origin(
                origins,
                f"{name} cannot make a TLS connection to the origin, whose certificate "
                "verifies here: the edge's TLS mode, the versions or ciphers it offers, "
                "or an origin certificate the edge does not trust",
            )
        return _to_origin(origins, f"{name} {_CANNOT_REACH[edge.cause]}")
    failing = [o for o in origins if o.seen.status != "healthy"]
    answering_failures = [o for o in failing if o.seen.answered]
    if answering_failures:
        return _origin_fails(answering_failures, "fails when asked directly too")
    if failing and edge.layer == "gateway":
        return _origin_fails(failing, "does not answer when asked directly either")
    if failing:
        return Link(
            None,
            f"the origin {_listed(failing)} does not answer directly (it may admit only "
            f"the edge's addresses), so this cannot tell where {_lower(edge.summary)}",
            tuple(o.via for o in failing),
        )
    if edge.cause in _EDGE_POLICY:
        return Link(
            EDGE, f"{name} refuses on its own, the origin answers directly: {_lower(edge.summary)}"
        )
    if edge.cause == "redirect_loop":
        return _to_origin(
            origins,
            f"{name} loops while the origin answers directly: the edge asks the origin in "
            "a way that makes it redirect (plain HTTP to an origin that forces HTTPS, "
            "as with Cloudflare's Flexible SSL)",
        )
    return _to_origin(
        origins,
        f"the origin answers directly, yet through {name} {_lower(edge.summary)}: "
        "a wrong origin address at the edge, or something between them",
    )


def _healthy_edge(edge: Seen, origins: Sequence[Origin]) -> Link:
    certs = [o for o in origins if o.seen.cert_problem]
    if certs:
        problems = "; ".join(f"{o.via}: {o.seen.cert_problem}" for o in certs)
        return Link(
            ORIGIN,
            f"{edge.product or 'the edge'} works, but the origin's own certificate is wrong "
            f"({problems}): an edge that verifies it (Cloudflare's Full strict, CloudFront) "
            "will fail",
            tuple(o.via for o in certs),
        )
    silent = [o for o in origins if not o.seen.answered]
    failing = [o for o in origins if o.seen.status != "healthy" and o.seen.answered]
    broken = [o for o in failing if o.seen.cause not in _ORIGIN_POLICY]
    if broken:  # a 5xx behind an edge that still works: its cache, or another origin
        return Link(
            ORIGIN,
            f"{edge.product or 'the edge'} still works (from its cache, or another origin), "
            f"but the origin {_listed(broken)} fails when asked directly: "
            f"{_lower(broken[0].seen.summary)}",
            tuple(o.via for o in broken),
        )
    if failing:
        return Link(
            None,
            f"it works through the edge; asked directly, the origin {_listed(failing)} "
            f"answers otherwise: {_lower(failing[0].seen.summary)}",
            tuple(o.via for o in failing),
        )
    if silent:
        return Link(
            None,
            f"it works through the edge; the origin {_listed(silent)} does not answer "
            "directly (it may admit only the edge's addresses)",
            tuple(o.via for o in silent),
        )
    return Link(None, "it works through the edge and straight from the origin")


def _origin_fails(origins: Sequence[Origin], how: str) -> Link:
    first = origins[0].seen
    return Link(
        ORIGIN,
        f"the origin {_listed(origins)} {how}: {_lower(first.summary)}",
        tuple(o.via for o in origins),
    )


def _to_origin(origins: Sequence[Origin], text: str) -> Link:
    return Link(EDGE_TO_ORIGIN, text, tuple(o.via for o in origins))


def _listed(origins: Sequence[Origin]) -> str:
    return ", ".join(o.via for o in origins)


def _lower(text: str) -> str:
    """A summary set after a colon: without its full stop (product names keep their case)."""
    return text.rstrip(".")
