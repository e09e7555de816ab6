"""Log lines in, what they prove out. Pure: no I/O, no clock.

A paste is first undone into lines (checks.explain.paste: prefixes, quotes, JSON,
pages). Each line is read by the first format of checks/knowledge/logs.toml that
parses it and explained by the first of that format's patterns that matches; a line
of a known format whose message proves nothing gets only the weak lead of its status
and what to paste next; lines nothing reads are counted, never guessed at.
Recognized lines are grouped by what they prove (product, cause, upstream) and each
group carries the same explanation and owner fixes the check gives for that cause
and product.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

from checks.diagnose import fill
from checks.explain import paste
from checks.knowledge import Knowledge
from checks.knowledge import load as load_knowledge
from checks.knowledge.logs import (
    Guess,
    LogFormat,
    LogKnowledge,
    LogPattern,
    Match,
    load_logs,
    render,
)

MAX_FINDINGS = 20
MAX_EVIDENCE = 200
MAX_UPSTREAM = 100
MAX_OWNER_STEPS = 7

GENERAL_WORDING = 0.7  # the most a line read only by wording any program may write proves
MIN_LINE = 6  # shorter than any line a gateway writes about a failure
MAX_PAGE_LINES = 60  # an error page pasted over lines is read as one, up to here
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")
_ISO = re.compile(r"(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)")
_ADDRESS_JUNK = re.compile(r"[^\w.:\[\]/ -]")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_PATH = re.compile(r"[/?#]")
_QUERY = re.compile(r"[?#]")


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
    next: str | None = None


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
    product: str
    fmt: LogFormat
    evidence: str
    upstream: str | None
    status: int | None
    count: int = 0
    confidence: float = 0.0
    first: str | None = None
    last: str | None = None


def explain(
    text: str,
    knowledge: Knowledge | None = None,
    logs: LogKnowledge | None = None,
    today: date | None = None,
) -> Explanation:
    """Classify every line of the text (checked by checks.explain.reading first).

    `today` dates syslog prefixes, which carry no year; without it they give no time."""
    knowledge = knowledge or load_knowledge()
    logs = logs or load_logs()
    groups: dict[tuple[str, str, str | None, bool], _Group] = {}
    lines = recognized = 0
    recent: LogFormat | None = None  # the last line's format: the next is likely one too
    kept: list[paste.Pasted] = []  # the start of the paste, for a page split over lines
    last: tuple[str, tuple[Match, str | None] | None] = ("", None)
    for pasted in paste.lines(text, today):
        lines += 1
        if len(pasted.line) < MIN_LINE:
            continue
        if pasted.raw != last[0]:  # a line repeated as it is reads the same again
            last = (pasted.raw, _read(logs, pasted, recent))
        read = last[1]
        if len(kept) < MAX_PAGE_LINES and (
            read is None or (read[0].pattern is None and read[0].format.line is not None)
        ):
            kept.append(pasted)  # unproven text: it may be half of a line the paste broke
        if read is None:
            continue
        recent = read[0].format
        recognized += _add(groups, logs, read, pasted.raw)
    if kept and not any(g.pattern.match for g in groups.values()):
        recognized += _read_together(groups, logs, kept)
    ranked = sorted(groups.values(), key=lambda g: (-g.confidence, -g.count, g.first or ""))
    findings = tuple(_finding(g, knowledge) for g in ranked[:MAX_FINDINGS])
    return Explanation(
        findings=findings,
        lines=lines,
        recognized=recognized,
        more_findings=max(0, len(ranked) - MAX_FINDINGS),
    )


def _read_together(
    groups: dict[tuple[str, str, str | None, bool], _Group],
    logs: LogKnowledge,
    kept: list[paste.Pasted],
) -> int:
    """Nothing proven line by line: an error page, a message split over lines, or a
    line a terminal wrapped at its width (mid-word): the lines read as one, joined by
    spaces (each under its prefixes), else joined as they were cut (as pasted)."""
    found = None
    for glue in (" ", ""):
        parts = [p.line for p in kept] if glue else [p.raw for p in kept]
        whole = paste.unwrap(glue.join(parts)[: paste.MAX_LINE])
        read = _read(logs, whole)
        if read is not None and read[0].pattern is not None:
            return _add(groups, logs, read, whole.raw)
        found = found or (read and (read, whole.raw))
        if len(kept) == 1:
            break
    if found is not None and not groups:
        return _add(groups, logs, found[0], found[1])
    return 0


def _add(
    groups: dict[tuple[str, str, str | None, bool], _Group],
    logs: LogKnowledge,
    read: tuple[Match, str | None],
    context: str,
) -> int:
    """Count a line read into the group of what it proves; 1 when it proves something."""
    found, fallback_time = read
    fmt = found.format
    status = _status(fmt, found.fields)
    if found.pattern is None:
        guess = fmt.guesses.get(status or 0) or logs.guesses.get(status or 0)
        if guess is None:
            return 0
        pattern = _guessed(fmt, guess, status or 0)
        proof = _partial_proof(fmt, status or 0, found.fields)
    else:
        pattern, proof = found.pattern, found.proof
    upstream = _upstream(fmt, found.fields) or (
        _upstream(found.via, found.fields) if found.via else None
    )
    product = logs.product(fmt, context)
    if product == "unknown" == fmt.product and pattern.confidence > GENERAL_WORDING:
        # no product's format read it and nothing names its writer: only its wording
        pattern = replace(pattern, confidence=GENERAL_WORDING)
    key = (product, pattern.cause, upstream, found.pattern is None)
    group = groups.get(key)
    if group is None:
        group = groups[key] = _Group(
            pattern=pattern,
            product=product,
            fmt=fmt,
            evidence=_clean(proof, MAX_EVIDENCE),
            upstream=upstream,
            status=status or pattern.status,
        )
    group.count += 1
    if pattern.confidence > group.confidence:
        group.confidence = pattern.confidence
        group.pattern = pattern
        group.evidence = _clean(proof, MAX_EVIDENCE)
    seen = _time(fmt, found.fields) or fallback_time
    if seen:
        group.first = min(group.first or seen, seen)
        group.last = max(group.last or seen, seen)
    return 1


def _read(
    logs: LogKnowledge, pasted: paste.Pasted, recent: LogFormat | None = None
) -> tuple[Match, str | None] | None:
    """The line as pasted, then under its prefixes, then the message inside its JSON:
    the first reading that explains it, else the first that at least knows its format.

    A JSON object is read by the JSON formats, then by its message (a Docker log line's
    `log` holds an nginx line, whose fields are clean there), and only then as text."""
    candidates: list[tuple[str, str | None, bool]] = []  # line, its time, JSON alone
    inner = paste.json_message(pasted.line) if pasted.line.endswith("}") else None
    if inner is not None:
        candidates.append((pasted.line, pasted.prefix_time, True))
        when = inner[1] or pasted.prefix_time
        candidates.append((inner[0], when, False))
        nested = paste.unwrap(inner[0])
        candidates += [(stage, nested.prefix_time or when, False) for stage in nested.stages]
    candidates.append((pasted.raw, pasted.prefix_time, False))
    candidates += [(stage, pasted.prefix_time, False) for stage in pasted.stages]
    partial: tuple[Match, str | None] | None = None
    memo: dict[str, frozenset[str]] = {}  # the raw line's words serve its stages too
    for line, when, json_only in candidates:
        part = not json_only and (line == pasted.raw or line in pasted.stages)
        found = logs.read(line, recent, json_only, memo if part else None)
        if found is None:
            continue
        if found.pattern is not None:
            return found, when
        if found.format.line is None:
            return found, when  # a structured format's line: not read again by wording
        partial = partial or (found, when)
    return partial


def _guessed(fmt: LogFormat, guess: Guess, status: int) -> LogPattern:
    """A stand-in pattern for a line whose format is known and whose message is not:
    the status's weak lead, and what to paste next."""
    return LogPattern(
        key=f"{fmt.name}#status",
        format=fmt,
        match=(),
        cause=guess.cause,
        confidence=guess.confidence,
        status=status,
        evidence=None,
        source=f"the status alone ({status}); the line says nothing more this tool knows",
        example="",
        title=f"{{gateway}} answered {status}; this {fmt.log} line does not say why",
        explanation=(
            f"This is a line of {fmt.log}, with status {status}, but not one whose wording "
            f"proves a cause. A {status} from {{gateway}} most often means "
            f"`{guess.cause}`; that is only a lead. "
            + (fmt.next or "The error log line it wrote for the same request settles it.")
        ),
    )


def _partial_proof(fmt: LogFormat, status: int, fields: dict[str, str]) -> str:
    upstream = _upstream(fmt, fields)
    where = f", upstream {upstream}" if upstream else ""
    return f"{fmt.log} line: status {status}{where}"


def _finding(group: _Group, knowledge: Knowledge) -> Finding:
    pattern = group.pattern
    product = group.product
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
        log=group.fmt.log,
        source=pattern.source,
        next=group.fmt.next if pattern.key.endswith("#status") else None,
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
    return _address(value, "/" in fmt.upstream)


@functools.lru_cache(maxsize=1024)  # a paste names few upstreams, on many lines
def _address(value: str, keep_path: bool) -> str | None:
    value = _SCHEME.sub("", value.strip())
    value = value.rsplit("@", 1)[-1]
    if not value.startswith("unix:") and not keep_path:
        value = _PATH.split(value, maxsplit=1)[0]
    value = _QUERY.split(value, maxsplit=1)[0]
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
    return _parse_time(value, fmt.time_format)


@functools.lru_cache(maxsize=4096)  # lines of one second share their time
def _parse_time(value: str, forms: tuple[str, ...]) -> str | None:
    for form in forms:
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
