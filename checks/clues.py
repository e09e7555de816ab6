"""General evidence in one failed answer, whatever product wrote it. Pure.

Products put the cause of a failure in plain words far more often than in
anything a rule could key on: Apache Traffic Server in its status line ("502
Connection refused", "500 Cannot find server."), H2O in a one-line body ("I/O
timeout"), others in a sentence of their error page. And the time an error
took says what a page does not: a refused connect fails in milliseconds, a
worker killed at its time limit answers after seconds. Reading these first
lets a product that no rule knows still get the right cause; a product's own
rules (checks/knowledge/products.toml) then refine.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from http import HTTPStatus

from checks.models import HttpSample

# Statuses a gateway answers with when its upstream failed.
GATEWAY_STATUSES = frozenset({500, 502, 503, 504})
SLOW_MS = 900.0  # a refusal, a reset or a parse error never takes this long behind a proxy
FAST_MS = 300.0
_RTT_FACTOR = 4  # far away, a round trip or two of waiting is not the upstream's time
_TEXT_CAP = 6000  # characters of a page read for words; an error page says it early
_SHORT_PAGE = 300  # characters of words: a page this short is about its error
_GENERIC_WORDS = 2  # a page with at most this many words beyond its status is boilerplate

# Words that name a cause, most specific first: the first family that matches wins.
_FAMILIES: tuple[tuple[str, str, str], ...] = (
    (
        "upstream_header_too_big",
        "the upstream's headers are too big",
        r"too (?:big|large|long) header|header(?:s| field| section)? (?:is |are )?too "
        r"(?:big|large|long)|header (?:buffer )?overflow|bigger than (?:the )?buffer",
    ),
    (
        "upstream_dns",
        "the upstream's name does not resolve",
        r"cannot find server|can't find server|unknown host|name or service not known"
        r"|could not (?:be )?resolve|couldn't resolve|unable to resolve|failed to resolve"
        r"|host not found|no such host|name resolution|dns (?:lookup|failure|error|"
        r"resolution|fail)|nxdomain|servfail|does not have a dns entry"
        r"|no address associated|err_dns_fail|hostname not found",
    ),
    (
        "no_healthy_upstream",
        "no upstream is healthy",
        r"no healthy upstream|no server is available|no (?:live|available|healthy) "
        r"(?:upstreams?|backends?|servers?)|all (?:backends|servers|upstreams|handlers)"
        r"[^.]{0,40}(?:are )?down|backend is unhealthy",
    ),
    (
        "upstream_tls",
        "TLS to the upstream failed",
        r"ssl handshake|tls handshake|certificate verif|ssl_error|tls error|ssl error",
    ),
    (
        "upstream_overloaded",
        "the upstream has no free worker",
        r"max_children|listen queue|queue (?:is )?full|no (?:free|idle|available) workers?"
        r"|all workers (?:are )?busy|resource temporarily unavailable|overloaded",
    ),
    (
        "upstream_refused",
        "the connection to the upstream was refused",
        r"connection refused|connect(?:ion)? failed|connect\(\) failed|could not connect"
        r"|couldn't connect|cannot connect|can't connect|unable to connect|failed to connect"
        r"|econnrefused|err_connect_fail|connect error",
    ),
    (
        "upstream_timeout",
        "the upstream did not answer in time",
        r"timed out|time-out|timeout|took too long|(?:did not|didn't) respond in time"
        r"|inactivity|no response in time",
    ),
    (
        "upstream_bad_response",
        "the upstream's answer was broken",
        r"invalid (?:http )?response|malformed|failed to parse|incomplete response|empty reply"
        r"|zero size|zero-size|prematurely closed|i/o error|unexpected eof|reset by peer"
        r"|connection reset|did not return the document|invalid header|bad header"
        r"|upstream sent",
    ),
    (
        "service_unavailable",
        "the site says it is down for maintenance",
        r"maintenance|come back (?:later|soon)|scheduled downtime",
    ),
    ("rate_limited", "the site limits requests", r"too many requests|rate limit"),
)
# Reason phrases that say no more than the status (RFC 9110's and their common spellings).
_PLAIN_REASONS = frozenset(
    {s.phrase.lower() for s in HTTPStatus}
    | {"gateway time-out", "gateway error", "service temporarily unavailable", "proxy error", "ok"}
)
_KNOWN_STATUSES = frozenset(s.value for s in HTTPStatus)
_TAG = re.compile(r"<(?:script|style)\b.*?</(?:script|style)>|<[^>]*>|&[a-z]+;|&#\d+;", re.S)
_WORD = re.compile(r"[a-z][a-z'_-]+")


@dataclass(frozen=True)
class Clue:
    """One cause the answer's own words point at, with where they were read."""

    code: str
    confidence: float
    line: str


@dataclass(frozen=True)
class Reading:
    """What an answer says beyond its status: words, the time it took, its page."""

    words: tuple[Clue, ...]
    slow: bool  # the server waited long enough that a timeout or a killed worker fits
    fast: bool  # the server answered too soon for any timeout to have run out
    waited_ms: float | None
    generic_page: bool  # empty, or a page that says nothing but its status


def read(sample: HttpSample) -> Reading:
    """The general evidence of one answer (a status was received)."""
    status = sample.status or 0
    words: list[Clue] = []
    reason = sample.reason.strip()
    if reason and reason.lower().rstrip(".") not in _PLAIN_REASONS:
        for code, label in _families(reason.lower()):
            words.append(Clue(code, 0.85, f"the status line says {status} {reason!r}: {label}"))
    text = page_text(sample.body) if status >= 500 else ""
    said = _without_status(text, status, reason)
    # Words in a short page are the point of it; in a long one they may be incidental,
    # and an application's own 500 page (a stack trace) is read only when short.
    short = len(said) <= _SHORT_PAGE
    if said and (short or status in GATEWAY_STATUSES - {500}):
        confidence = 0.8 if short else 0.55
        for code, label in _families(said)[:1]:
            if all(c.code != code for c in words):
                words.append(Clue(code, confidence, f"the page says {_quote(said)}: {label}"))
    waited = sample.timings.waited_ms
    rtt = sample.timings.connect_ms or 0.0
    slow = waited is not None and waited >= max(SLOW_MS, _RTT_FACTOR * rtt)
    fast = waited is not None and waited < max(FAST_MS, _RTT_FACTOR * rtt)
    return Reading(
        words=tuple(words),
        slow=slow,
        fast=fast,
        waited_ms=waited,
        generic_page=_generic(said if status >= 500 else page_text(sample.body), status, reason),
    )


def page_text(body: str) -> str:
    """The words a browser would show of a page, lower-cased, white space folded."""
    if not body:
        return ""
    return " ".join(_TAG.sub(" ", body[:_TEXT_CAP].lower()).split())


def _families(text: str) -> list[tuple[str, str]]:
    """The causes whose words appear in `text`, most specific first."""
    return [(code, label) for code, label, pattern in _compiled() if pattern.search(text)]


@functools.cache
def _compiled() -> tuple[tuple[str, str, re.Pattern[str]], ...]:
    """Compiled on the first failure read: a healthy check never pays for it."""
    return tuple((code, label, re.compile(pattern)) for code, label, pattern in _FAMILIES)


def _without_status(text: str, status: int, reason: str) -> str:
    """The page's words without the status's own name, which says nothing new."""
    for phrase in _status_phrases(status, reason):
        text = text.replace(phrase, " ")
    return " ".join(text.split())


def _status_phrases(status: int, reason: str) -> tuple[str, ...]:
    phrases = [str(status)]
    if status in _KNOWN_STATUSES:
        phrases.append(HTTPStatus(status).phrase.lower())
    if reason:
        phrases.append(reason.lower())
    phrases += ["gateway time-out", "service temporarily unavailable"]
    return tuple(sorted(phrases, key=len, reverse=True))


def _generic(text: str, status: int, reason: str) -> bool:
    """An empty page, or one whose words are only its status (a proxy's boilerplate)."""
    rest = _without_status(text, status, reason)
    return len(_WORD.findall(rest)) <= _GENERIC_WORDS


def _quote(text: str, limit: int = 80) -> str:
    shown = text if len(text) <= limit else text[: limit - 1] + "…"
    return repr(shown)
