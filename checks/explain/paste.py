"""Pasted text back to log lines, as people paste them. Pure.

A paste is rarely the log file itself: lines come under a kubectl, docker-compose,
journald or syslog prefix, behind `> ` quotes and code fences, numbered by an editor,
with CRLF ends, Slack's `&gt;` escapes, or inside a JSON object a log shipper wrote.
This module undoes those wrappings (each bounded, each anchored at the line start)
and keeps what they said: the prefix (it often names the program, e.g. `traefik_1 |`
or `haproxy[812]:`) and the prefix's time, used when the line carries none.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

_FENCE = re.compile(r"```")
_ANSI = re.compile(r"\x1b\[[0-9;?]{0,20}[A-Za-z]")
_QUOTE = re.compile(r"^(?:\s*(?:>|&gt;)\s?)+")
_WRAPPED = frozenset(">`*_&")
# a response as curl prints it: the status line, the headers, and the body's first line
# (read as one line, so that a Server or Via header names whoever sent the body)
_RESPONSE = re.compile(
    r"^(?:< )?HTTP/[\d.]{1,3} \d{3}[^\n]{0,200}(?:\r?\n(?:< )?[\w-]{1,60}:[^\n]{0,2000}){1,60}"
    r"(?:\r?\n(?:< )?[ \t\r]*\n(?!(?:< )?HTTP/)[^\n]{1,300})?",
    re.MULTILINE,
)
_NEWLINES = re.compile(r"(?:\r?\n(?:< )?)+")
MAX_PAGE = 4000  # an error page longer than this is not joined into one line
_ENTITY = re.compile(r"&(?:gt|lt|amp|quot|#39|#x27);")
_ENTITIES = {"&gt;": ">", "&lt;": "<", "&amp;": "&", "&quot;": '"', "&#39;": "'", "&#x27;": "'"}
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
_ISO_TIME = r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?"
# Each prefix is tried at the start of what is left, in turn, until none applies.
_PREFIXES = (
    # an editor's or a pager's line number: "12: ", "12 | ", "  12  "
    re.compile(r"^\d{1,6}(?:[:|]\s?|\s{2,}|\t)(?=\S)"),
    # grep's file name (and line number): "access.log:", "elb_20170626T0900Z.txt:12:"
    re.compile(r"^[\w./-]{1,300}\.(?:log|txt|json|gz|out|err)(?:\.\d{1,3})?:(?:\d{1,9}:)?(?=\S)"),
    # kubectl logs --prefix: "[pod/web-7d9c/nginx] ", or "pod/web-7d9c "
    re.compile(r"^\[pod/[\w.-]{1,253}(?:/[\w.-]{1,63})?\]\s"),
    re.compile(r"^pod/[\w.-]{1,253}\s"),
    # docker compose: "web_1  | ", "web-1  | "
    re.compile(r"^[\w.-]{1,100}\s{0,40}\|\s?(?=\S)"),
    # klog, as Kubernetes' Go programs write it: "W1125 14:46:55.123456       7 file.go:42] "
    re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d{1,9}\s{1,20}\d{1,10} [\w./-]{1,100}:\d{1,6}\] "),
    # syslog priority "<13>"
    re.compile(r"^<\d{1,3}>(?:1 )?"),
    # RFC 3164 syslog / journald short: "Nov 25 14:46:55 host prog[812]: "
    re.compile(
        r"^(?P<month>(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)) {1,2}(?P<day>\d{1,2}) "
        r"(?P<clock>\d\d:\d\d:\d\d)(?:\.\d{1,9})? (?:[\w.-]{1,253} )?"
        r"(?:[\w./@()-]{1,100}(?:\[\d{1,10}\])?: {1,2})?"
    ),
    # RFC 5424 syslog: "<13>1 2026-11-25T14:46:55+01:00 host app 812 - [meta x="1"] "
    re.compile(
        r"^(?P<iso>" + _ISO_TIME + r") \S{1,255} [\w./@-]{1,48} (?:\d{1,10}|-) [\w-]{1,32} "
        r"(?:-|(?:\[[^\]]{0,500}\])+) "
    ),
    # ISO time (docker logs -t, kubectl --timestamps, journald short-iso, RFC 5424),
    # optionally with a host and program after it
    re.compile(
        r"^(?P<iso>" + _ISO_TIME + r")\s(?:(?:stdout|stderr) [FP] )?"
        r"(?:[\w.-]{1,253} [\w./@-]{1,100}(?:\[\d{1,10}\])?: )?"
    ),
)


MAX_JSON_LINES = 200
MAX_LINE = 16_384  # longer lines are read up to here (bounded work per line)
SHORT = 6  # shorter than any log line: passed on as it is


# any of the prefixes at all (one search rules them all out for most lines)
_ANY_PREFIX = re.compile(
    "|".join(
        f"(?P<p{n}>" + re.sub(r"[?]P<\w+>", "", p.pattern) + ")" for n, p in enumerate(_PREFIXES)
    )
)


@dataclass(frozen=True)
class Pasted:
    """One line of a paste: the line itself, what wrapped it, and the wrapper's time."""

    raw: str
    line: str
    prefix: str
    prefix_time: str | None
    stages: tuple[str, ...] = ()  # the line under each prefix in turn, the last is `line`


TOO_SHORT = Pasted(raw="", line="", prefix="", prefix_time=None)


def lines(text: str, today: date | None = None) -> Iterator[Pasted]:
    """The non-empty lines of a paste, each with its wrappings undone."""
    if "\x1b" in text:  # colours of a terminal or of docker compose's prefixes
        text = _ANSI.sub("", text)
    if "&" in text:
        text = _ENTITY.sub(lambda m: _ENTITIES[m.group(0)], text)
    if "```" in text:
        text = _FENCE.sub("\n", text)
    if "</html>" in text.lower():
        text = _pages(text)
    if "HTTP/" in text:
        text = _RESPONSE.sub(lambda m: " | ".join(_NEWLINES.split(m.group(0).strip())), text)
    pending: list[str] = []
    for raw in text.splitlines():
        if len(raw) < SHORT and not pending and raw.strip() not in ("", "{"):
            yield TOO_SHORT  # counted as a line; no log line is this short
            continue
        line = raw[:MAX_LINE].strip()
        if line[:1] in _WRAPPED or line[-1:] in _WRAPPED:
            line = _markup(_QUOTE.sub("", line).strip())
        if pending or line == "{":
            # a JSON object pretty-printed over lines: read as one line
            pending.append(line)
            if line == "}" or len(pending) > MAX_JSON_LINES:
                yield unwrap(" ".join(pending), today)
                pending = []
            continue
        if line:
            yield unwrap(line, today)
    if pending:
        yield unwrap(" ".join(pending), today)


def _pages(text: str) -> str:
    """Each HTML page (<html ...> to </html>, up to 4000 characters) on one line.

    Found with str.find, not a regular expression: a paste of many `<html>` and one
    `</html>` costs one pass, not one scan per `<html>`."""
    lower = text.lower()
    out: list[str] = []
    done = 0
    while True:
        end = lower.find("</html>", done)
        if end < 0:
            break
        end += len("</html>")
        start = lower.rfind("<html", max(done, end - MAX_PAGE), end)
        if start >= 0:
            out += [text[done:start], " ".join(text[start:end].split())]
        else:
            out.append(text[done:end])
        done = end
    out.append(text[done:])
    return "".join(out)


def _markup(line: str) -> str:
    """The line without Markdown around it: inline-code backticks, and bold or italics
    marks that open and close it (a line of uWSGI's `*** HARAKIRI ... ***` keeps them)."""
    line = line.strip("`").strip()
    for mark in ("**", "_"):
        if len(line) > 2 * len(mark) and line.startswith(mark) and line.endswith(mark):
            line = line[len(mark) : -len(mark)].strip()
    return line


def unwrap(line: str, today: date | None = None) -> Pasted:
    """The line under its prefixes; the prefixes and their time kept."""
    rest = line
    when: str | None = None
    stages: list[str] = []
    for _ in range(4):
        found = _first_prefix(rest)
        if found is None:
            break
        when = when or _prefix_time(found, today)
        rest = rest[found.end() :].lstrip()
        stages.append(rest)
    if not stages:
        return Pasted(raw=line, line=line, prefix="", prefix_time=None)
    return Pasted(
        raw=line,
        line=rest,
        prefix=line[: len(line) - len(rest)],
        prefix_time=when,
        stages=tuple(stages),
    )


def _first_prefix(rest: str) -> re.Match[str] | None:
    """The first of the prefixes that takes something off the line (one search tells
    which, most often; all of them in turn when that one takes all or nothing)."""
    any_prefix = _ANY_PREFIX.match(rest)
    if any_prefix is None:
        return None
    first = int((any_prefix.lastgroup or "p0")[1:])  # the outer group closes last
    for prefix in _PREFIXES[first:]:
        found = prefix.match(rest)
        if found is not None and 0 < found.end() < len(rest):
            return found
    return None


def _prefix_time(found: re.Match[str], today: date | None) -> str | None:
    groups = found.groupdict()
    if groups.get("iso"):
        iso = groups["iso"]
        return f"{iso[:10]}T{iso[11:19]}"
    if groups.get("month") and today is not None:
        month = _MONTHS.index(groups["month"]) + 1
        day = int(groups["day"])
        # a syslog time has no year: the latest one not after today
        year = today.year if (month, day) <= (today.month, today.day) else today.year - 1
        return f"{year:04d}-{month:02d}-{day:02d}T{groups['clock']}"
    return None


# JSON a log shipper or a structured logger wrote: where the message is, where the time is
MESSAGE_KEYS = ("log", "msg", "message", "MESSAGE", "error", "err", "errorMessage")
TIME_KEYS = ("time", "ts", "timestamp", "@timestamp", "t", "StartUTC", "date")


def json_message(line: str) -> tuple[str, str | None] | None:
    """The message text inside a JSON log line (its msg, message, log, error...) and its
    time, or None when the line is not such an object."""
    start = line.find("{")
    if start < 0 or start > 200 or not line.rstrip().endswith("}"):
        return None
    try:
        data = json.loads(line[start:])
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    parts = [
        str(data[key]).strip()
        for key in MESSAGE_KEYS
        if isinstance(data.get(key), str) and str(data[key]).strip()
    ]
    if not parts:
        return None
    when = None
    for key in TIME_KEYS:
        value = data.get(key)
        if isinstance(value, str) and re.match(_ISO_TIME, value):
            when = f"{value[:10]}T{value[11:19]}"
            break
    return " · ".join(dict.fromkeys(parts))[:16_384], when
