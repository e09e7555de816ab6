"""The diagnosis knowledge, read from TOML files beside this module.

Causes (titles, explanations, fixes), products (how to recognise them, what
their failures mean) and notes live as data so that adding a product or
sharpening a fix never touches the engine. Loaded once and checked against
the contract's vocabulary, so a typo fails at import, not mid-incident.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli

from checks.knowledge import schema
from checks.knowledge.schema import KnowledgeError

HERE = Path(__file__).parent

# The contract's cause codes, each with its layer (the contract fixes both).
CAUSE_LAYERS = {
    "dns_nxdomain": "dns",
    "dns_no_address": "dns",
    "dns_servfail": "dns",
    "dns_timeout": "dns",
    "dns_mismatch": "dns",
    "tcp_refused": "network",
    "tcp_timeout": "network",
    "tcp_unreachable": "network",
    "connection_reset": "network",
    "tls_expired": "tls",
    "tls_hostname_mismatch": "tls",
    "tls_untrusted": "tls",
    "tls_handshake_failed": "tls",
    "response_timeout": "http",
    "upstream_refused": "gateway",
    "upstream_timeout": "gateway",
    "upstream_bad_response": "gateway",
    "upstream_tls": "gateway",
    "no_healthy_upstream": "gateway",
    "upstream_dns": "gateway",
    "upstream_overloaded": "gateway",
    "upstream_header_too_big": "gateway",
    "service_unavailable": "service",
    "rate_limited": "service",
    "partial_outage": "service",
    "server_error": "service",
    "not_implemented": "service",
    "forbidden": "service",
    "not_found": "service",
    "redirect_loop": "http",
    "slow_response": "service",
    "client_closed": "client",
    "healthy": "client",
}
CAUSE_CODES = tuple(CAUSE_LAYERS)
LAYERS = ("dns", "network", "tls", "http", "gateway", "service", "client")
VERDICTS = ("healthy", "degraded", "down")
KINDS = ("proxy", "cdn", "lb", "platform", "app", "unknown")
# The placeholders knowledge text may use (filled by checks.diagnose.fill).
PLACEHOLDERS = frozenset({"gateway", "status", "host", "port"})
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
    "trafficserver",
    "lighttpd",
    "h2o",
    "nghttpx",
    "openresty",
    "kong",
    "cloudflare",
    "cloudflared",
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
    "gunicorn",
    "uwsgi",
    "php-fpm",
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


@functools.cache
def load() -> Knowledge:
    """Read and check the knowledge files (once per process)."""
    return from_data(_read("causes.toml"), _read("products.toml"), _read("notes.toml"))


def from_data(causes: dict[str, Any], products: dict[str, Any], notes: dict[str, Any]) -> Knowledge:
    """Check the files' tables and build the knowledge; a mistake raises KnowledgeError."""
    return Knowledge(causes=_causes(causes), products=_products(products), **_notes(notes))


def _read(name: str) -> dict[str, Any]:
    with (HERE / name).open("rb") as handle:
        return tomli.load(handle)


def _causes(data: dict[str, Any]) -> dict[str, CauseInfo]:
    missing = set(CAUSE_CODES) - set(data)
    extra = set(data) - set(CAUSE_CODES)
    if missing or extra:
        raise KnowledgeError(f"causes.toml: missing {sorted(missing)}, unknown {sorted(extra)}")
    causes = {}
    for code, raw in data.items():
        where = f"causes.toml [{code}]"
        entry = schema.keys(
            where,
            raw,
            ("layer", "verdict", "title", "explanation", "owner", "visitor"),
            ("owner_for",),
        )
        layer = schema.one_of(f"{where} layer", entry["layer"], LAYERS)
        if layer != CAUSE_LAYERS[code]:
            raise KnowledgeError(
                f"{where} layer: {layer!r}, but the contract puts {code} in {CAUSE_LAYERS[code]!r}"
            )
        owner_for_raw = entry.get("owner_for", {})
        if not isinstance(owner_for_raw, dict):
            raise KnowledgeError(f"{where} owner_for: expected a table of products")
        unknown = set(owner_for_raw) - set(PRODUCTS)
        if unknown:
            raise KnowledgeError(f"{where}: unknown products {sorted(unknown)}")
        owner_for = {
            product: _filled(f"{where} owner_for.{product}", schema.texts("", steps))
            for product, steps in owner_for_raw.items()
        }
        causes[code] = CauseInfo(
            code=code,
            layer=layer,
            verdict=schema.one_of(f"{where} verdict", entry["verdict"], VERDICTS),
            title=_filled(f"{where} title", (schema.text(where, entry["title"]),))[0],
            explanation=_filled(
                f"{where} explanation", (schema.text(where, entry["explanation"]).strip(),)
            )[0],
            owner=_filled(f"{where} owner", schema.texts(f"{where} owner", entry["owner"])),
            visitor=_filled(f"{where} visitor", schema.texts(f"{where} visitor", entry["visitor"])),
            owner_for=owner_for,
        )
    return causes


def _filled(where: str, items: tuple[str, ...]) -> tuple[str, ...]:
    for i, item in enumerate(items):
        schema.placeholders(f"{where}[{i}]", item, PLACEHOLDERS)
    return items


def _products(data: dict[str, Any]) -> dict[str, Product]:
    unknown = set(data) - set(PRODUCTS)
    missing = set(PRODUCTS) - set(data)
    if unknown or missing:
        raise KnowledgeError(
            f"products.toml: missing products {sorted(missing)}, unknown {sorted(unknown)}"
        )
    products = {}
    for key, raw in data.items():
        where = f"products.toml [{key}]"
        entry = schema.keys(where, raw, ("name", "kind"), ("signal", "rule"))
        signals = tuple(
            _signal(f"{where} signal #{n}", s) for n, s in enumerate(entry.get("signal", []), 1)
        )
        rules = tuple(
            _rule(f"{where} rule #{n}", r) for n, r in enumerate(entry.get("rule", []), 1)
        )
        _every_rule_can_match(where, rules)
        products[key] = Product(
            key=key,
            name=schema.text(f"{where} name", entry["name"]),
            kind=schema.one_of(f"{where} kind", entry["kind"], KINDS),
            signals=signals,
            rules=rules,
        )
    return products


def _signal(where: str, raw: dict[str, Any]) -> Signal:
    entry = schema.keys(where, raw, ("weight",), ("header", "pattern", "body"))
    if ("header" in entry) == ("body" in entry):
        raise KnowledgeError(f"{where}: give either a header or a body marker")
    if "pattern" in entry and "header" not in entry:
        raise KnowledgeError(f"{where}: a pattern needs a header to match against")
    return Signal(
        weight=int(schema.number(f"{where} weight", entry["weight"], 1, 10, integer=True)),
        header=schema.text(f"{where} header", entry["header"]).lower()
        if "header" in entry
        else None,
        body=_lower(schema.text(f"{where} body", entry["body"])) if "body" in entry else None,
        pattern=schema.regex(f"{where} pattern", entry["pattern"]) if "pattern" in entry else None,
    )


def _rule(where: str, raw: dict[str, Any]) -> Rule:
    entry = schema.keys(
        where,
        raw,
        ("causes",),
        ("status", "range", "body", "header", "pattern", "slower_than_ms"),
    )
    if "status" not in entry and "range" not in entry:
        raise KnowledgeError(f"{where}: neither status nor range, so it can never match")
    statuses = frozenset(
        schema.status(f"{where} status", s)
        for s in _list(f"{where} status", entry.get("status", []))
    )
    if "status" in entry and not statuses:
        raise KnowledgeError(f"{where}: an empty status list can never match")
    status_range = None
    if "range" in entry:
        bounds = _list(f"{where} range", entry["range"])
        if len(bounds) != 2:
            raise KnowledgeError(f"{where} range: expected [low, high]")
        low, high = (schema.status(f"{where} range", b) for b in bounds)
        if low > high:
            raise KnowledgeError(f"{where} range: {low} > {high}, so it can never match")
        status_range = (low, high)
    if "pattern" in entry and "header" not in entry:
        raise KnowledgeError(f"{where}: a pattern needs a header to match against")
    causes = []
    for pair in _list(f"{where} causes", entry["causes"]):
        if not isinstance(pair, list) or len(pair) != 2:
            raise KnowledgeError(f"{where} causes: expected [[code, confidence], ...]")
        code = schema.one_of(f"{where} cause", pair[0], CAUSE_CODES)
        causes.append((code, float(schema.number(f"{where} {code} confidence", pair[1], 0.01, 1))))
    if not causes:
        raise KnowledgeError(f"{where}: no causes")
    slower = entry.get("slower_than_ms")
    return Rule(
        causes=tuple(causes),
        statuses=statuses,
        status_range=status_range,
        body=_lower(schema.text(f"{where} body", entry["body"])) if "body" in entry else None,
        header=schema.text(f"{where} header", entry["header"]).lower()
        if "header" in entry
        else None,
        pattern=schema.regex(f"{where} pattern", entry["pattern"]) if "pattern" in entry else None,
        slower_than_ms=None
        if slower is None
        else float(schema.number(f"{where} slower_than_ms", slower, 0, 600_000)),
    )


def _list(where: str, value: object) -> list[Any]:
    if not isinstance(value, list):
        raise KnowledgeError(f"{where}: expected a list")
    return value


def _every_rule_can_match(where: str, rules: tuple[Rule, ...]) -> None:
    """First match wins, so a rule after one that matches everything it would is dead."""
    for n, later in enumerate(rules):
        for m, earlier in enumerate(rules[:n]):
            if _covers(earlier, later):
                raise KnowledgeError(
                    f"{where} rule #{n + 1} can never match: rule #{m + 1} above it "
                    "matches every response it would"
                )


def _statuses(rule: Rule) -> set[int]:
    found = set(rule.statuses)
    if rule.status_range:
        found |= set(range(rule.status_range[0], rule.status_range[1] + 1))
    return found


def _covers(earlier: Rule, later: Rule) -> bool:
    if not _statuses(later) <= _statuses(earlier):
        return False
    if earlier.body is not None and earlier.body not in (later.body or ""):
        return False
    if earlier.header is not None:
        if earlier.header != later.header:
            return False
        if earlier.pattern is not None and (
            later.pattern is None or earlier.pattern.pattern != later.pattern.pattern
        ):
            return False
    if earlier.slower_than_ms is None:
        return True
    return later.slower_than_ms is not None and later.slower_than_ms >= earlier.slower_than_ms


def _notes(data: dict[str, Any]) -> dict[str, Any]:
    statuses = {}
    for code, raw in data.get("status", {}).items():
        where = f"notes.toml [status.{code}]"
        entry = schema.keys(where, raw, ("name", "text"))
        number = schema.status(where, int(code) if str(code).isdigit() else code)
        statuses[number] = StatusNote(
            status=number,
            name=schema.text(f"{where} name", entry["name"]),
            text=_filled(f"{where} text", (schema.text(where, entry["text"]).strip(),))[0],
        )
    neighbours = {}
    for code, others in data.get("neighbours", {}).items():
        where = f"notes.toml [neighbours] {code}"
        shown = schema.status(where, int(code) if str(code).isdigit() else code)
        listed = tuple(schema.status(where, s) for s in _list(where, others))
        lacking = [s for s in (shown, *listed) if s not in statuses]
        if lacking:
            raise KnowledgeError(f"{where}: no [status.N] entry for {lacking}")
        neighbours[shown] = listed
    notes = []
    for key, raw in data.items():
        if key in ("status", "neighbours"):
            continue
        where = f"notes.toml [{key}]"
        entry = schema.keys(where, raw, ("title", "text", "applies_to"))
        notes.append(
            Note(
                key=key,
                title=_filled(f"{where} title", (schema.text(where, entry["title"]),))[0],
                text=_filled(f"{where} text", (schema.text(where, entry["text"]).strip(),))[0],
                applies_to=frozenset(
                    schema.status(f"{where} applies_to", s)
                    for s in _list(f"{where} applies_to", entry["applies_to"])
                ),
            )
        )
    return {"notes": tuple(notes), "statuses": statuses, "neighbours": neighbours}


def _lower(text: str | None) -> str | None:
    return text.lower() if text else None
