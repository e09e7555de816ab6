"""What one failed answer points at: its own words and timing first, rules refining. Pure.

A product's rule that keys on a marker (a body sentence, a header, a time) is a
fact checked on that product and stands as it is. Otherwise the answer's
general evidence (checks.clues: the reason phrase, the page's words, how long
the error took, whether a proxy wrote the page itself) ranks the causes, and
the status's rules (the product's, else those of [unknown]) fill in the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from checks import clues
from checks.knowledge import Knowledge, Rule
from checks.models import HttpSample

# What a slow gateway error means when no word says more: a timeout, or a worker
# killed at its time limit (PHP-FPM request_terminate_timeout, uWSGI harakiri,
# gunicorn --timeout), which the gateway sees as a connection closed after seconds.
_SLOW = (("upstream_timeout", 0.55), ("upstream_overloaded", 0.2))
_SLOW_REST = 0.25  # what the status's own rule keeps beside it
_FAST_TIMEOUT = 0.3  # a timeout that cannot have run out in so short a time
# A bare 503 a proxy wrote itself, with no Retry-After: its upstream failed.
_BARE_503 = (("upstream_refused", 0.5), ("no_healthy_upstream", 0.3), ("service_unavailable", 0.2))
_BARE_503_UNKNOWN = (
    ("service_unavailable", 0.4),
    ("upstream_refused", 0.35),
    ("no_healthy_upstream", 0.25),
)
_PROXY_KINDS = frozenset({"proxy", "lb", "cdn", "platform"})


@dataclass
class Weighed:
    """Ranked candidate causes of one answer, and the evidence lines behind them."""

    scores: dict[str, float] = field(default_factory=dict)
    lines: dict[str, list[str]] = field(default_factory=dict)

    def add(self, code: str, confidence: float, line: str | None = None) -> None:
        self.scores[code] = max(self.scores.get(code, 0.0), confidence)
        if line:
            bucket = self.lines.setdefault(code, [])
            if line not in bucket:
                bucket.append(line)

    def causes(self) -> tuple[tuple[str, float], ...]:
        return tuple(sorted(self.scores.items(), key=lambda item: -item[1]))

    def __bool__(self) -> bool:
        return bool(self.scores)


def weigh(sample: HttpSample, knowledge: Knowledge, product: str) -> Weighed:
    """The causes one answer (a status was received) points at, most likely first."""
    own, rule = _first_rule(sample, knowledge, product)
    base = rule.causes if rule else ()
    found = Weighed()
    if (sample.status or 0) < 500:
        for code, confidence in base:
            found.add(code, confidence)
        return found
    reading = clues.read(sample)
    if own and rule is not None and _specific(rule):  # a fact checked on this product
        timed = rule.slower_than_ms is None and (sample.status or 0) in clues.GATEWAY_STATUSES
        for code, confidence in _killed(base, reading) if timed else base:
            found.add(code, confidence)
        for clue in reading.words:  # the answer's own words, where they agree
            if clue.code in found.scores:
                found.add(clue.code, found.scores[clue.code], clue.line)
    elif reading.words:
        _by_words(found, reading, base, own)
    else:
        kind = knowledge.products[product].kind
        _by_status(found, sample, reading, base, own, product != "unknown" and kind in _PROXY_KINDS)
        return found
    _timing_line(found, reading)
    return found


def _by_words(
    found: Weighed, reading: clues.Reading, base: tuple[tuple[str, float], ...], own: bool
) -> None:
    """The answer names its cause; the status's rules rank after, unless they are sure."""
    top = reading.words[0].confidence
    causes = [(clue.code, clue.confidence) for clue in reading.words]
    causes += [(code, confidence * (1 - top)) for code, confidence in base]
    if own and base and base[0][1] >= top:  # a status the product's rules are sure of
        causes = [*base, *((code, c * (1 - base[0][1])) for code, c in causes)]
    for clue in reading.words:
        found.add(clue.code, 0.0, clue.line)
    for code, confidence in _killed(tuple(causes), reading):
        found.add(code, confidence)


def _by_status(
    found: Weighed,
    sample: HttpSample,
    reading: clues.Reading,
    base: tuple[tuple[str, float], ...],
    own: bool,
    proxy: bool,
) -> None:
    """Only the status speaks: the time it took and who wrote the page refine its rules."""
    status = sample.status or 0
    retry = sample.header("retry-after") is not None
    bare = status == 503 and not own and reading.generic_page and not retry
    if bare:
        base = _BARE_503 if proxy else _BARE_503_UNKNOWN
    timed = not retry and (
        status in (502, 503) or (status == 500 and proxy and reading.generic_page and not own)
    )
    if timed and reading.slow:
        for code, confidence in _SLOW:
            found.add(code, confidence, _slow_line(reading.waited_ms or 0.0))
        base = tuple((code, confidence * _SLOW_REST) for code, confidence in base)
    elif timed and reading.fast:
        base = tuple(
            (code, confidence * (_FAST_TIMEOUT if code == "upstream_timeout" else 1.0))
            for code, confidence in base
        )
    for code, confidence in base:
        found.add(code, confidence)
    if bare:
        found.add("upstream_refused", found.scores["upstream_refused"], _bare_line(proxy))
    if timed and reading.fast and found:
        found.add(*found.causes()[0], _fast_line(reading.waited_ms or 0.0))


def _killed(
    causes: tuple[tuple[str, float], ...], reading: clues.Reading
) -> tuple[tuple[str, float], ...]:
    """A broken answer that came after seconds: the upstream was killed at a time limit.

    A worker that PHP-FPM, uWSGI or gunicorn kills for running too long closes its
    connection; every gateway then says "invalid", "empty" or "closed", and only the
    time tells it from a crash.
    """
    if not causes or causes[0][0] != "upstream_bad_response" or not reading.slow:
        return causes
    rest = tuple((code, confidence * _SLOW_REST) for code, confidence in causes)
    return (*_SLOW, *rest)


def _timing_line(found: Weighed, reading: clues.Reading) -> None:
    """Say how long the error took, beside the cause it supports."""
    if not found or reading.waited_ms is None:
        return
    code = found.causes()[0][0]
    if reading.slow and code in ("upstream_timeout", "upstream_overloaded"):
        found.add(code, found.scores[code], _slow_line(reading.waited_ms))
    elif reading.fast and code != "upstream_timeout":
        found.add(code, found.scores[code], _fast_line(reading.waited_ms))


def rule_matches(rule: Rule, sample: HttpSample) -> bool:
    status = sample.status or 0
    if rule.statuses and status not in rule.statuses:
        return False
    if rule.status_range and not rule.status_range[0] <= status <= rule.status_range[1]:
        return False
    if not rule.statuses and not rule.status_range:
        return False
    if rule.body and rule.body not in sample.flat_body:
        return False
    if rule.header:
        value = sample.header(rule.header)
        if value is None or (rule.pattern and not rule.pattern.search(value)):
            return False
    if rule.slower_than_ms is not None:
        took = sample.timings.first_byte_ms or sample.timings.total_ms or 0.0
        if took < rule.slower_than_ms:
            return False
    return True


def _first_rule(sample: HttpSample, knowledge: Knowledge, product: str) -> tuple[bool, Rule | None]:
    """The first rule that matches: the product's own (True), else [unknown]'s (False)."""
    for key in dict.fromkeys((product, "unknown")):
        for rule in knowledge.products[key].rules:
            if rule_matches(rule, sample):
                return key == product and key != "unknown", rule
    return False, None


def _specific(rule: Rule) -> bool:
    """A rule that keys on more than the status: a product fact, checked on the product."""
    return rule.body is not None or rule.header is not None or rule.slower_than_ms is not None


def _slow_line(waited: float) -> str:
    return (
        f"the error came {waited / 1000:.1f} s after the request was sent: long enough for "
        "a timeout, or for a worker killed at its time limit (a refused connection fails "
        "in milliseconds)"
    )


def _fast_line(waited: float) -> str:
    took = f"{waited:.0f} ms" if waited >= 1 else "less than a millisecond"
    return (
        f"the error came {took} after the request was sent: too soon for any "
        "timeout, so the upstream refused, closed or answered wrongly at once"
    )


def _bare_line(proxy: bool) -> str:
    who = "a page the proxy wrote itself" if proxy else "a page that says nothing more"
    return (
        f"503 without Retry-After, on {who}: a site down for maintenance usually says so; "
        "an upstream that failed does not"
    )
