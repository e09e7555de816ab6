"""The diagnosis knowledge, read from TOML files beside this module.

Causes (titles, explanations, fixes), products (how to recognise them, what
their failures mean) and notes live as data so that adding a product or
sharpening a fix never touches the engine. Loaded once and checked against
the contract's vocabulary, so a typo fails at import, not mid-incident.
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent

CAUSE_CODES = (
    "dns_nxdomain",
    "dns_no_address",
    "dns_servfail",
    "dns_timeout",
    "dns_mismatch",
    "tcp_refused",
    "tcp_timeout",
    "tcp_unreachable",
    "connection_reset",
    "tls_expired",
    "tls_hostname_mismatch",
    "tls_untrusted",
    "tls_handshake_failed",
    "response_timeout",
    "upstream_refused",
    "upstream_timeout",
    "upstream_bad_response",
    "upstream_tls",
    "no_healthy_upstream",
    "service_unavailable",
    "rate_limited",
    "partial_outage",
    "server_error",
    "not_implemented",
    "forbidden",
    "not_found",
    "redirect_loop",
    "slow_response",
    "healthy",
)
PRODUCTS = (
    "nginx",
    "apache",
    "haproxy",
    "varnish",
    "caddy",
    "envoy",
    "traefik",
    "squid",
    "iis",
    "cloudflare",
    "cloudfront",
    "aws_elb",
    "gcp_lb",
    "azure",
    "akamai",
    "fastly",
    "heroku",
    "vercel",
    "netlify",
    "fly",
    "unknown",
)


@dataclass(frozen=True)
class CauseInfo:
    code: str
    layer: str
    verdict: str
    title: str
    explanation: str
    owner: tuple[str, ...]
    visitor: tuple[str, ...]
    owner_for: dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class Signal:
    weight: int
    header: str | None = None
    pattern: re.Pattern[str] | None = None
    body: str | None = None


@dataclass(frozen=True)
class Rule:
    causes: tuple[tuple[str, float], ...]
    statuses: frozenset[int] = frozenset()
    status_range: tuple[int, int] | None = None
    body: str | None = None
    header: str | None = None
    pattern: re.Pattern[str] | None = None
    slower_than_ms: float | None = None


@dataclass(frozen=True)
class Product:
    key: str
    name: str
    kind: str
    signals: tuple[Signal, ...]
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class StatusNote:
    status: int
    name: str
    text: str


@dataclass(frozen=True)
class Note:
    key: str
    title: str
    text: str
    applies_to: frozenset[int]


@dataclass(frozen=True)
class Knowledge:
    causes: dict[str, CauseInfo]
    products: dict[str, Product]
    notes: tuple[Note, ...]
    statuses: dict[int, StatusNote]
    neighbours: dict[int, tuple[int, ...]]


class KnowledgeError(ValueError):
    """A knowledge file breaks the contract's vocabulary or its own schema."""


@functools.cache
def load() -> Knowledge:
    """Read and check the knowledge files (once per process)."""
    return Knowledge(
        causes=_causes(_read("causes.toml")),
        products=_products(_read("products.toml")),
        **_notes(_read("notes.toml")),
    )


def _read(name: str) -> dict[str, Any]:
    with (HERE / name).open("rb") as handle:
        return tomllib.load(handle)


def _causes(data: dict[str, Any]) -> dict[str, CauseInfo]:
    missing = set(CAUSE_CODES) - set(data)
    extra = set(data) - set(CAUSE_CODES)
    if missing or extra:
        raise KnowledgeError(f"causes.toml: missing {sorted(missing)}, unknown {sorted(extra)}")
    causes = {}
    for code, entry in data.items():
        owner_for = {k: tuple(v) for k, v in entry.get("owner_for", {}).items()}
        unknown = set(owner_for) - set(PRODUCTS)
        if unknown:
            raise KnowledgeError(f"causes.toml [{code}]: unknown products {sorted(unknown)}")
        causes[code] = CauseInfo(
            code=code,
            layer=entry["layer"],
            verdict=entry["verdict"],
            title=entry["title"],
            explanation=entry["explanation"].strip(),
            owner=tuple(entry["owner"]),
            visitor=tuple(entry["visitor"]),
            owner_for=owner_for,
        )
    return causes


def _products(data: dict[str, Any]) -> dict[str, Product]:
    unknown = set(data) - set(PRODUCTS)
    if unknown:
        raise KnowledgeError(f"products.toml: unknown products {sorted(unknown)}")
    products = {}
    for key, entry in data.items():
        signals = tuple(
            Signal(
                weight=s["weight"],
                header=s.get("header"),
                body=_lower(s.get("body")),
                pattern=_regex(s.get("pattern")),
            )
            for s in entry.get("signal", [])
        )
        rules = tuple(_rule(key, r) for r in entry.get("rule", []))
        products[key] = Product(
            key=key, name=entry["name"], kind=entry["kind"], signals=signals, rules=rules
        )
    return products


def _rule(product: str, raw: dict[str, Any]) -> Rule:
    causes = tuple((code, float(conf)) for code, conf in raw["causes"])
    for code, _ in causes:
        if code not in CAUSE_CODES:
            raise KnowledgeError(f"products.toml [{product}]: unknown cause {code!r}")
    status_range = tuple(raw["range"]) if "range" in raw else None
    return Rule(
        causes=causes,
        statuses=frozenset(raw.get("status", ())),
        status_range=status_range,
        body=_lower(raw.get("body")),
        header=raw.get("header"),
        pattern=_regex(raw.get("pattern")),
        slower_than_ms=raw.get("slower_than_ms"),
    )


def _notes(data: dict[str, Any]) -> dict[str, Any]:
    statuses = {
        int(code): StatusNote(status=int(code), name=entry["name"], text=entry["text"].strip())
        for code, entry in data.get("status", {}).items()
    }
    neighbours = {int(k): tuple(v) for k, v in data.get("neighbours", {}).items()}
    notes = tuple(
        Note(
            key=key,
            title=entry["title"],
            text=entry["text"].strip(),
            applies_to=frozenset(entry.get("applies_to", ())),
        )
        for key, entry in data.items()
        if key not in ("status", "neighbours")
    )
    return {"notes": notes, "statuses": statuses, "neighbours": neighbours}


def _lower(text: str | None) -> str | None:
    return text.lower() if text else None


def _regex(pattern: str | None) -> re.Pattern[str] | None:
    return re.compile(pattern, re.IGNORECASE) if pattern else None
