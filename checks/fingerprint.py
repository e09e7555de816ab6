"""Which product answered, from a response's headers and body.

Two answers matter: the product that *wrote the error page* (its body
markers give it away) and the product *in front* (headers of a CDN or load
balancer that passed the page through). A 502 page with nginx's footer served
through Cloudflare is nginx's 502, behind Cloudflare.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from checks.knowledge import Knowledge, Product, Signal
from checks.models import HttpSample

EXCERPT = 80


@dataclass(frozen=True)
class Fingerprint:
    product: str
    evidence: tuple[str, ...]
    front: str | None = None
    front_evidence: tuple[str, ...] = ()


def identify(sample: HttpSample, knowledge: Knowledge) -> Fingerprint:
    """Name the product that answered `sample` ("unknown" when nothing matches)."""
    body = sample.flat_body
    scored: list[tuple[int, int, str, tuple[str, ...]]] = []
    for product in knowledge.products.values():
        body_score, header_score, evidence = _score(product, sample, body)
        if body_score or header_score:
            scored.append((body_score, header_score, product.key, evidence))
    if not scored:  # no signal: a product may still name itself in a header
        named = _self_named(sample, knowledge)
        return named or Fingerprint(product="unknown", evidence=_unnamed(sample))
    by_page = max(scored, key=lambda s: (s[0], s[1]))
    by_headers = max(scored, key=lambda s: (s[1], s[0]))
    if by_page[0] and by_headers[2] != by_page[2] and by_headers[1]:
        return Fingerprint(
            product=by_page[2],
            evidence=by_page[3],
            front=by_headers[2],
            front_evidence=by_headers[3],
        )
    best = max(scored, key=lambda s: s[0] + s[1])
    return Fingerprint(product=best[2], evidence=best[3])


def _score(product: Product, sample: HttpSample, body: str) -> tuple[int, int, tuple[str, ...]]:
    body_score = header_score = 0
    evidence: list[str] = []
    for signal in product.signals:
        line = _match(signal, sample, body)
        if line is None:
            continue
        evidence.append(line)
        if signal.body:
            body_score += signal.weight
        else:
            header_score += signal.weight
    return body_score, header_score, tuple(evidence)


def _match(signal: Signal, sample: HttpSample, body: str) -> str | None:
    """The evidence line for a matching signal, or None."""
    if signal.body:
        if signal.body not in body:
            return None
        at = sample.body.lower().find(signal.body)
        if at < 0:  # the marker spans a line break: show the marker itself
            return f"body: {signal.body!r}"
        return f"body: {_excerpt_around(sample.body, at, len(signal.body))!r}"
    value = sample.header(signal.header or "")
    if value is None:
        return None
    if signal.pattern and not signal.pattern.search(value):
        return None
    return f"{_header_name(sample, signal.header or '')}: {value[:EXCERPT]}"


def _header_name(sample: HttpSample, name: str) -> str:
    for key, _ in sample.headers:
        if key.lower() == name.lower():
            return key.title() if key.islower() else key
    return name


def _excerpt_around(text: str, at: int, length: int) -> str:
    """The line of `text` holding the match, trimmed to EXCERPT characters."""
    start = text.rfind("\n", 0, at) + 1
    end = text.find("\n", at + length)
    line = text[start : end if end >= 0 else len(text)].strip()
    if len(line) <= EXCERPT:
        return line
    offset = max(0, at - start - 20)
    return line[offset : offset + EXCERPT]


_SELF_NAMING = ("server", "via", "x-powered-by", "x-cache", "x-served-by")


def _self_named(sample: HttpSample, knowledge: Knowledge) -> Fingerprint | None:
    """A product whose own name stands as a word in a header where products name
    themselves ("Via: 1.1 edge (lighttpd)"), when none of its signals matched."""
    for name in _SELF_NAMING:
        value = sample.header(name)
        if not value:
            continue
        words = set(_WORDS.findall(value.lower()))
        for key in knowledge.products:
            if key != "unknown" and key in words:
                return Fingerprint(
                    product=key, evidence=(f"{_header_name(sample, name)}: {value[:EXCERPT]}",)
                )
    return None


_WORDS = re.compile(r"[a-z0-9][a-z0-9_-]*[a-z0-9]")


def _unnamed(sample: HttpSample) -> tuple[str, ...]:
    """The raw headers a product would name itself in, for a person to read."""
    return tuple(
        f"{_header_name(sample, name)}: {value[:EXCERPT]}"
        for name in _SELF_NAMING
        if (value := sample.header(name))
    )
