"""Log lines in, what they prove out. Pure: no I/O, no clock.

Each line is read by the first format of checks/knowledge/logs.toml that parses
it and explained by the first of that format's patterns that matches; lines
nothing explains are counted, never guessed at. Recognized lines are grouped by
what they prove (product, cause, upstream) and each group carries the same
explanation and owner fixes the check gives for that cause and product.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from checks.diagnose import fill
from checks.knowledge import Knowledge
from checks.knowledge import load as load_knowledge
from checks.knowledge.logs import LogFormat, LogKnowledge, LogPattern, load_logs, render

MAX_FINDINGS = 20
MAX_EVIDENCE = 200
MAX_UPSTREAM = 100
MAX_OWNER_STEPS = 7

_FENCE = re.compile(r"^\s*(?:```|>\s?)+")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")
_ISO = re.compile(r"(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)")
_ADDRESS_JUNK = re.compile(r"[^\w.:\[\]/ -]")


@dataclass(frozen=True)
class Finding:
    """Lines that prove the same cause, from the same product, about the same upstream."""

    product: str
    cause: str
    confidence: float
    count: int
    first_seen: str | None
    last_seen: str | None
    upstream: str | None
    evidence: str
    status: int | None
    log: str
    source: str
    title: str
    explanation: str
    owner: tuple[str, ...]


@dataclass(frozen=True)
class Explanation:
    findings: tuple[Finding, ...]
    lines: int
    recognized: int
    more_findings: int = 0

    @property
    def unrecognized(self) -> int:
        return self.lines - self.recognized


@dataclass
class _Group:
    pattern: LogPattern
    evidence: str
    upstream: str | None
    status: int | None
    count: int = 0
    confidence: float = 0.0
    first: str | None = None
    last: str | None = None


def explain(
    text: str, knowledge: Knowledge | None = None, logs: LogKnowledge | None = None
) -> Explanation:
    """Classify every line of the text (checked by checks.explain.reading first)."""
    knowledge = knowledge or load_knowledge()
    logs = logs or load_logs()
    groups: dict[tuple[str, str, str | None], _Group] = {}
    lines = recognized = 0
    for raw in text.splitlines():
        line = _FENCE.sub("", raw).strip().removesuffix("```").strip()
        if not line:
            continue
        lines += 1
        found = logs.classify(line)
        if found is None:
            continue
        recognized += 1
        pattern, fields, proof = found
        fmt = pattern.format
        upstream = _upstream(fmt, fields)
        key = (fmt.product, pattern.cause, upstream)
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group(
                pattern=pattern,
                evidence=_clean(proof, MAX_EVIDENCE),
                upstream=upstream,
                status=_status(fmt, fields) or pattern.status,
            )
        group.count += 1
        if pattern.confidence > group.confidence:
            group.confidence = pattern.confidence
            group.pattern = pattern
            group.evidence = _clean(proof, MAX_EVIDENCE)
        seen = _time(fmt, fields)
        if seen:
            group.first = min(group.first or seen, seen)
            group.last = max(group.last or seen, seen)
    ranked = sorted(groups.values(), key=lambda g: (-g.confidence, -g.count, g.first or ""))
    findings = tuple(_finding(g, knowledge) for g in ranked[:MAX_FINDINGS])
    return Explanation(
        findings=findings,
        lines=lines,
        recognized=recognized,
        more_findings=max(0, len(ranked) - MAX_FINDINGS),
    )


def _finding(group: _Group, knowledge: Knowledge) -> Finding:
    pattern = group.pattern
    product = pattern.format.product
    info = knowledge.causes[pattern.cause]
    name = knowledge.products[product].name
    context = {
        "gateway": name,
        "status": str(group.status) if group.status else "an error",
        "host": "the site",
        "port": "its port",
    }
    owner = (info.owner_for.get(product, ()) + info.owner)[:MAX_OWNER_STEPS]
    return Finding(
        product=product,
        cause=pattern.cause,
        confidence=pattern.confidence,
        count=group.count,
        first_seen=group.first,
        last_seen=group.last,
        upstream=group.upstream,
        evidence=group.evidence,
        status=group.status,
        log=pattern.format.log,
        source=pattern.source,
        title=fill(pattern.title or info.title, context),
        explanation=fill(pattern.explanation or info.explanation, context),
        owner=tuple(fill(step, context) for step in owner),
    )


def settling_line(product: str, cause: str, logs: LogKnowledge | None = None) -> str | None:
    """The log fragment that would prove this cause for this product, from the knowledge."""
    logs = logs or load_logs()
    for fmt in logs.formats:
        if fmt.product != product:
            continue
        for pattern in logs.patterns[fmt.name]:
            if pattern.cause == cause:
                fields = fmt.fields(pattern.example) or {}
                proof = pattern.proof(fields)
                if proof:
                    return _clean(proof, MAX_EVIDENCE)
    return None


def _clean(text: str, limit: int) -> str:
    """One line, no control or invisible characters, no secret a path or URL carries,
    bounded (secrets hidden before the cut, so no half of one survives it)."""
    text = " ".join(_UNSAFE.sub(" ", text[: limit * 8]).split())
    text = _hide_private(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# a URL's password (`scheme://user:PASSWORD@`, or `user:PASSWORD@host` without a scheme),
# a query string, and a path segment that looks like a token (16+ letters and digits)
_URL_PASSWORD = re.compile(r"(?<![\w@])([\w.%+-]{1,64}):[^\s@/]{1,256}@(?=[\w\[])")
_QUERY = re.compile(r"\?[^\s\"'<>]{1,2048}")
_PATH_TOKEN = re.compile(r"(?<=/)(?=[\w-]{0,200}?\d)(?=[\w-]{0,200}?[A-Za-z])[\w-]{16,200}")


def _hide_private(text: str) -> str:
    text = _URL_PASSWORD.sub(r"\1:***@", text)
    text = _QUERY.sub("?…", text)
    return _PATH_TOKEN.sub("…", text)


def _upstream(fmt: LogFormat, fields: dict[str, str]) -> str | None:
    """host:port (or a backend's name), never a scheme, credentials, path or query."""
    if not fmt.upstream:
        return None
    value = render(fmt.upstream, fields)
    if not value:
        return None
    value = re.sub(r"^[a-z][a-z0-9+.-]*://", "", value.strip(), flags=re.IGNORECASE)
    value = value.rsplit("@", 1)[-1]
    if not value.startswith("unix:"):
        value = re.split(r"[/?#]", value, maxsplit=1)[0] if "/" not in fmt.upstream else value
    value = re.split(r"[?#]", value, maxsplit=1)[0]
    value = _clean(_ADDRESS_JUNK.sub("", value), MAX_UPSTREAM).strip()
    return value if value and value != "-" else None


def _status(fmt: LogFormat, fields: dict[str, str]) -> int | None:
    value = fields.get(fmt.status or "", "")
    if value.isdigit() and 100 <= int(value) <= 599:
        return int(value)
    return None


def _time(fmt: LogFormat, fields: dict[str, str]) -> str | None:
    """The line's own time as YYYY-MM-DDTHH:MM:SS (its clock, its zone; epochs in UTC)."""
    value = fields.get(fmt.time or "")
    if not value:
        return None
    for form in fmt.time_format:
        if form == "iso":
            found = _ISO.search(value)
            if found:
                return f"{found.group(1)}T{found.group(2)}"
        elif form == "epoch":
            moment = _epoch(value)
            if moment:
                return moment
            found = _ISO.search(value)
            if found:
                return f"{found.group(1)}T{found.group(2)}"
        else:
            try:
                return datetime.strptime(value, form).strftime("%Y-%m-%dT%H:%M:%S")
            except ValueError:
                continue
    return None


def _epoch(value: str) -> str | None:
    try:
        seconds = float(value)
    except ValueError:
        return None
    for scale in (1e9, 1e6, 1e3):  # ns, µs, ms since 1970
        if seconds > scale * 1e10:
            seconds /= scale
            break
    if not 0 < seconds < 32503680000:  # before the year 3000
        return None
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
