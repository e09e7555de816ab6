"""Log-line knowledge: how to read each kind of log line, and what each line proves.

Loaded from logs.toml and checked like the rest of the knowledge: every product and
cause in the contract's vocabulary, every regular expression compiling, every
template naming fields its format has, and every pattern's own example line
explained by that very pattern (so none is dead, or shadowed by one above it).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import string
from dataclasses import dataclass
from typing import Any

import tomli

from checks.knowledge import CAUSE_CODES, HERE, PLACEHOLDERS, PRODUCTS, literals, schema
from checks.knowledge.schema import KnowledgeError

# Longest line read; the rest of a longer line is ignored (bounded work per line).
MAX_LINE = 16_384
_WHOLE = re.compile(r"\^\(\?P<\w+>\.\{\d+,\}\)")  # a line pattern that reads the whole line
TIME_FORMATS = ("epoch", "iso")
FORMAT_KEYS = (
    "line",
    "json",
    "detect",
    "drop",
    "extract",
    "time",
    "time_format",
    "upstream",
    "status",
    "messages",
    "hints",
    "next",
    "gate",
    "loose",
    "guess",
)


@dataclass(frozen=True)
class LogFormat:
    name: str
    product: str
    log: str
    line: tuple[re.Pattern[str], ...] | None
    detect: tuple[str, ...]
    drop: tuple[re.Pattern[str], ...]
    extract: tuple[tuple[str, re.Pattern[str]], ...]
    time: str | None
    time_format: tuple[str, ...]
    upstream: str | None
    status: str | None
    messages: str | None = None
    hints: tuple[str, ...] = ()
    next: str | None = None
    gate: tuple[str, ...] = ()
    loose: bool = False
    guesses: dict[int, Guess] = dataclasses.field(default_factory=dict)
    words: tuple[tuple[str, ...] | None, ...] = ()  # per line pattern: literals.required
    extract_words: tuple[tuple[str, ...] | None, ...] = ()

    @functools.cached_property
    def entry(self) -> frozenset[str] | None:
        """Words of which each line of this format holds one (None: no such words)."""
        if self.gate:
            return frozenset(self.gate)
        if self.line is None or any(words is None for words in self.words):
            return None
        return frozenset(word for words in self.words if words for word in words)

    def fields(self, line: str, screened: bool = False) -> dict[str, str] | None:
        """The line's fields when it is a line of this format, else None (`screened`:
        the caller checked `entry` already)."""
        if not screened and self.gate and not any(word in line for word in self.gate):
            return None  # none of the words every line of this format holds
        if self.line is None:
            found = _json_fields(line)
            if found is None or any(key not in found for key in self.detect):
                return None
            found = dict(found)
        else:
            for form, words in zip(self.line, self.words, strict=True):
                if not literals.holds(line, words):
                    continue
                match = form.search(line)
                if match is not None:
                    break
            else:
                return None
            found = {k: v for k, v in match.groupdict().items() if v is not None}
        for pattern in self.drop:
            found = {k: pattern.sub("", v) for k, v in found.items()}
        for (field, pattern), words in zip(
            self.extract, self.extract_words or (None,) * len(self.extract), strict=True
        ):
            value = found.get(field, "")
            if not literals.holds(value, words):
                continue
            extra = pattern.search(value)
            if extra:
                found.update({k: v for k, v in extra.groupdict().items() if v is not None})
        return found


@dataclass(frozen=True)
class LogPattern:
    key: str
    format: LogFormat
    match: tuple[tuple[str, re.Pattern[str]], ...]
    cause: str
    confidence: float
    status: int | None
    evidence: str | None
    source: str
    example: str
    title: str | None = None
    explanation: str | None = None
    words: tuple[tuple[str, ...] | None, ...] = ()  # per match: literals.required

    @functools.cached_property
    def screen(self) -> tuple[str, str] | None:
        """(field, word): one word the pattern cannot match without, if it has one."""
        for (field, _), words in zip(self.match, self.words, strict=False):
            if words is not None and len(words) == 1:
                return field, words[0]
        return None

    def proof(self, fields: dict[str, str]) -> str | None:
        """What in these fields proves the cause, or None when they do not match."""
        parts = []
        for (field, pattern), words in zip(
            self.match, self.words or (None,) * len(self.match), strict=True
        ):
            value = fields.get(field, "")
            if not literals.holds(value, words):
                return None
            found = pattern.search(value)
            if found is None:
                return None
            parts.append(found.group(0))
        if self.evidence:
            return render(self.evidence, fields) or " · ".join(parts)
        return " · ".join(parts)


@dataclass(frozen=True)
class Hint:
    """Wording that names the product which wrote a line (its prefix counts too)."""

    product: str
    match: re.Pattern[str]


@dataclass(frozen=True)
class Guess:
    """What a status alone suggests, for a line whose format is known but whose message
    is not: never more than a weak lead."""

    cause: str
    confidence: float


@dataclass(frozen=True)
class Match:
    """A line read: its format and fields, and the pattern that explains it (None when
    the line is of a known format but says nothing this knowledge explains)."""

    format: LogFormat
    pattern: LogPattern | None
    fields: dict[str, str]
    proof: str
    via: LogFormat | None = None


@dataclass(frozen=True)
class LogKnowledge:
    formats: tuple[LogFormat, ...]
    patterns: dict[str, tuple[LogPattern, ...]]
    hints: tuple[Hint, ...] = ()
    guesses: dict[int, Guess] = dataclasses.field(default_factory=dict)

    def classify(self, line: str) -> tuple[LogPattern, dict[str, str], str] | None:
        """The first pattern (formats in order) that explains the line: with its fields
        and the proving fragment."""
        found = self.read(line)
        if found is None or found.pattern is None:
            return None
        return found.pattern, found.fields, found.proof

    def read(
        self,
        line: str,
        first: LogFormat | None = None,
        json_only: bool = False,
        memo: dict[str, frozenset[str]] | None = None,
    ) -> Match | None:
        """The first pattern (formats in order) that explains the line; else the first
        format that reads it, without a pattern; else None.

        `first`, a format of a fixed shape (the previous line's, in a paste of one log),
        is tried before the others: formats of a fixed shape read disjoint lines, and
        the loose ones come after them all, so the answer is the same, sooner.
        `json_only`: the line is a JSON object, for the JSON formats alone. `memo` keeps
        the entry words found in the first line read with it, for its parts (a line under
        its prefixes holds no word the whole line does not)."""
        line = line[:MAX_LINE]
        if first is not None and not first.loose and not (json_only and first.line):
            fields = first.fields(line)
            if fields is not None:
                return self._explain(first, fields) or Match(first, None, fields, "")
        partial: Match | None = None
        json_like = line.endswith("}") and "{" in line
        if memo is None:
            present = self.present(line)
        elif "present" in memo:
            present = memo["present"]
        else:
            present = memo["present"] = self.present(line)
        silent = memo.get("silent", frozenset()) if memo is not None else frozenset()
        for fmt in self._candidates(present, json_like, json_only):
            whole = self._whole_line_screens.get(fmt.name)
            if whole is not None and (fmt.name in silent or whole.search(line) is None):
                # none of the words its patterns need: a part of the line holds none either
                if memo is not None:
                    memo["silent"] = silent = silent | {fmt.name}
                continue
            fields = fmt.fields(line, screened=True)
            if fields is None:
                continue
            found = self._explain(fmt, fields)
            if found is not None:
                return found
            if not fmt.loose:
                # a line of this format's own shape (its fields read) is this format's:
                # when none of its patterns explains it, no later format reads it again
                return partial or Match(fmt, None, fields, "")
            if partial is None and fmt.next:
                partial = Match(fmt, None, fields, "")
        return partial

    @functools.cached_property
    def _scan(self) -> tuple[re.Pattern[str], dict[str, frozenset[str]]]:
        """One search for every format's entry words at once (overlapping, so that
        `] [` does not hide `[pool `), and for each word found, the words it starts with."""
        words = {w for fmt in self.formats if fmt.entry for w in fmt.entry}
        scan = re.compile("(?=(" + _trie(words) + "))")
        prefixes = {w: frozenset(p for p in words if w.startswith(p)) for w in words}
        return scan, prefixes

    @functools.cached_property
    def _any_entry(self) -> re.Pattern[str]:
        """Whether the line holds any entry word at all (faster than finding them all,
        and most lines of an application's own log hold none)."""
        return re.compile(_trie({w for fmt in self.formats if fmt.entry for w in fmt.entry}))

    def present(self, line: str) -> frozenset[str]:
        """The formats' entry words in the line (a part of it holds no others)."""
        if self._any_entry.search(line) is None:
            return frozenset()
        scan, prefixes = self._scan
        found = set(scan.findall(line))
        return frozenset().union(*(prefixes[w] for w in found)) if found else frozenset()

    def _candidates(
        self, present: frozenset[str], json_like: bool, json_only: bool
    ) -> tuple[LogFormat, ...]:
        """The formats, in order, that a line with these entry words may be of (cached:
        the lines of a paste have few different sets of words)."""
        key = (present, json_like, json_only)
        found = self._tried.get(key)
        if found is None:
            if len(self._tried) > 4096:
                self._tried.clear()
            found = self._tried[key] = tuple(
                fmt
                for fmt in self.formats
                if (json_like or fmt.line is not None)
                and not (json_only and fmt.line is not None)
                and (fmt.entry is None or not fmt.entry.isdisjoint(present))
            )
        return found

    @functools.cached_property
    def _tried(self) -> dict[tuple[frozenset[str], bool, bool], tuple[LogFormat, ...]]:
        return {}

    @functools.cached_property
    def _hint_words(self) -> re.Pattern[str] | None:
        """One search, in the lowercased line, for a word every hint needs: most lines
        name no product at all (None: some hint has no such word)."""
        words: set[str] = set()
        for hint in self.hints:
            regex = hint.match.pattern
            body = regex[4:] if regex.startswith("(?i)") else regex
            found = literals.required(re.compile(body))
            if found is None:
                return None
            words.update(word.lower() for word in found)
        return re.compile(_trie(words))

    @functools.cached_property
    def _screens(self) -> dict[str, tuple[str, re.Pattern[str]]]:
        """Per format whose every pattern needs one of a few words in the same field:
        that field and one search for all those words (no word, no pattern to try)."""
        found = {}
        for name, patterns in self.patterns.items():
            keys = [_needs(p) for p in patterns]
            fields = {key[0] for key in keys if key}
            if patterns and all(keys) and len(fields) == 1:
                words = {w for key in keys if key for w in key[1]}
                found[name] = (fields.pop(), re.compile(_trie(words)))
        return found

    @functools.cached_property
    def _whole_line_screens(self) -> dict[str, re.Pattern[str]]:
        """Per loose format that reads the whole line into the one field its patterns
        screen (the shared messages): that screen, searched in the line itself before
        any field is read."""
        found = {}
        for fmt in self.formats:
            screen = self._screens.get(fmt.name)
            if not fmt.loose or screen is None or fmt.messages or fmt.drop or not fmt.line:
                continue
            whole = len(fmt.line) == 1 and _WHOLE.fullmatch(fmt.line[0].pattern)
            if whole and fmt.line[0].groupindex == {screen[0]: 1}:
                found[fmt.name] = screen[1]
        return found

    def _explain(self, fmt: LogFormat, fields: dict[str, str]) -> Match | None:
        words = self._screens.get(fmt.name)
        if words is not None and words[1].search(fields.get(words[0], "")) is None:
            return self._messages(fmt, fields) if fmt.messages else None
        for pattern in self.patterns[fmt.name]:
            screen = pattern.screen
            if screen is not None and screen[1] not in fields.get(screen[0], ""):
                continue  # the one word the pattern cannot match without is not there
            proof = pattern.proof(fields)
            if proof is not None:
                return Match(fmt, pattern, fields, proof)
        return self._messages(fmt, fields) if fmt.messages else None

    def _messages(self, fmt: LogFormat, fields: dict[str, str]) -> Match | None:
        """The shared message patterns (e.g. Go's and Node's network errors) on this
        format's message field: the cause from the wording, the product from the format."""
        shared = next(f for f in self.formats if f.name == fmt.messages)
        inner = shared.fields(fields.get("message") or fields.get("msg") or "")
        if inner is None:
            return None
        for pattern in self.patterns[shared.name]:
            screen = pattern.screen
            if screen is not None and screen[1] not in inner.get(screen[0], ""):
                continue
            proof = pattern.proof(inner)
            if proof is not None:
                merged = {**inner, **{k: v for k, v in fields.items() if v}}
                return Match(fmt, pattern, merged, proof, via=shared)
        return None

    def product(self, fmt: LogFormat, context: str) -> str:
        """The product that wrote a line of this format, named by the line's own wording
        or its prefix where the format allows it."""
        if not fmt.hints:
            return fmt.product
        cache = self._named
        key = (fmt.name, context)
        if key not in cache:
            if len(cache) > 4096:  # bounded: a paste of one log repeats its lines
                cache.clear()
            cache[key] = self._name(fmt, context)
        return cache[key]

    @functools.cached_property
    def _named(self) -> dict[tuple[str, str], str]:
        return {}

    def _name(self, fmt: LogFormat, context: str) -> str:
        screen = self._hint_words
        if screen is None or screen.search(context[:MAX_LINE].lower()):
            for hint in self.hints:
                if ("*" in fmt.hints or hint.product in fmt.hints) and hint.match.search(
                    context[:MAX_LINE]
                ):
                    return hint.product
        return fmt.product


def _trie(words: set[str]) -> str:
    """An alternation of the words, nested by common prefixes (much faster to scan)."""
    root: dict[str, Any] = {}
    for word in words:
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}
    return _branch(root) or "$^"


def _branch(node: dict[str, Any]) -> str:
    alternatives = [
        re.escape(char) + _branch(child) for char, child in sorted(node.items()) if char
    ]
    if not alternatives:
        return ""
    body = alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"
    return f"(?:{body})?" if "" in node else body


def _needs(pattern: LogPattern) -> tuple[str, tuple[str, ...]] | None:
    """(field, words): words of which the pattern cannot match without one."""
    for (field, _), words in zip(pattern.match, pattern.words, strict=False):
        if words:
            return field, words
    return None


def render(template: str, fields: dict[str, str]) -> str | None:
    """The template filled from the fields; None when one of them is missing or empty."""
    names = _template_fields(template)
    if any(not fields.get(name) for name in names):
        return None
    return template.format_map(fields)


def _template_fields(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


@functools.lru_cache(maxsize=4)  # several JSON formats read the same line in turn
def _json_fields(line: str) -> dict[str, str] | None:
    start = line.find("{")
    if start < 0 or not line.rstrip().endswith("}"):
        return None
    try:
        data = json.loads(line[start:])
    except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
        return None
    if not isinstance(data, dict):
        return None
    found: dict[str, str] = {}
    _flatten(data, found, 0)
    return found


def _flatten(data: dict[Any, Any], found: dict[str, str], depth: int) -> None:
    """Text and number values by key; a nested object's keys too (the outer key wins),
    so `{"connection": {"termination_state": "sC"}}` gives termination_state."""
    nested = []
    for key, value in data.items():
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            found.setdefault(str(key), str(value))
        elif isinstance(value, dict) and depth < 3:
            nested.append(value)
    for value in nested:
        _flatten(value, found, depth + 1)


@functools.cache
def load_logs() -> LogKnowledge:
    """Read and check logs.toml (once per process)."""
    with (HERE / "logs.toml").open("rb") as handle:
        return logs_from_data(tomli.load(handle))


def logs_from_data(data: dict[str, Any]) -> LogKnowledge:
    """Check the tables of logs.toml and build the knowledge; a mistake raises KnowledgeError."""
    schema.keys("logs.toml", data, ("format", "pattern"), ("hint", "guess"))
    formats = {
        name: _format(f"logs.toml [format.{name}]", name, raw)
        for name, raw in data["format"].items()
    }
    for fmt in formats.values():
        if fmt.messages is not None and fmt.messages not in formats:
            raise KnowledgeError(
                f"logs.toml [format.{fmt.name}] messages: {fmt.messages!r} is not a format"
            )
    patterns: dict[str, list[LogPattern]] = {name: [] for name in formats}
    if not isinstance(data["pattern"], list):
        raise KnowledgeError("logs.toml: [[pattern]] must be an array of tables")
    for n, raw in enumerate(data["pattern"], 1):
        pattern = _pattern(f"logs.toml pattern #{n}", n, raw, formats)
        patterns[pattern.format.name].append(pattern)
    knowledge = LogKnowledge(
        formats=tuple(formats.values()),
        patterns={name: tuple(found) for name, found in patterns.items()},
        hints=tuple(
            _hint(f"logs.toml hint #{n}", raw) for n, raw in enumerate(data.get("hint", []), 1)
        ),
        guesses=_guesses(data.get("guess", {})),
    )
    for found in knowledge.patterns.values():
        for pattern in found:
            _example_is_explained(knowledge, pattern)
    return knowledge


def _format(where: str, name: str, raw: dict[str, Any]) -> LogFormat:
    entry = schema.keys(where, raw, ("product", "log"), FORMAT_KEYS)
    is_json = entry.get("json", False)
    if is_json is not True and "json" in entry:
        raise KnowledgeError(f"{where} json: write json = true, or leave it out")
    if is_json == ("line" in entry):
        raise KnowledgeError(f"{where}: give either a line pattern or json = true")
    if "detect" in entry and not is_json:
        raise KnowledgeError(f"{where}: detect is for json formats")
    line = _lines(where, entry.get("line"))
    groups = set().union(*(set(form.groupindex) for form in line)) if line else None
    extract = []
    for n, item in enumerate(entry.get("extract", []), 1):
        item = schema.keys(f"{where} extract #{n}", item, ("field", "pattern"))
        pattern = schema.regex(f"{where} extract #{n} pattern", item["pattern"], 0)
        if not pattern.groupindex:
            raise KnowledgeError(f"{where} extract #{n}: the pattern names no group")
        _known(f"{where} extract #{n}", [item["field"]], groups)
        extract.append((item["field"], pattern))
        if groups is not None:
            groups |= set(pattern.groupindex)
    time_format = entry.get("time_format", [])
    if isinstance(time_format, str):
        time_format = [schema.one_of(f"{where} time_format", time_format, TIME_FORMATS)]
    time_format = tuple(time_format)
    if ("time" in entry) != bool(time_format):
        raise KnowledgeError(f"{where}: time and time_format go together")
    for field in ("time", "status"):
        if field in entry:
            _known(f"{where} {field}", [entry[field]], groups)
    if "upstream" in entry:
        _template(f"{where} upstream", entry["upstream"], groups)
    return LogFormat(
        name=name,
        product=schema.one_of(f"{where} product", entry["product"], PRODUCTS),
        log=schema.text(f"{where} log", entry["log"]),
        line=line,
        detect=tuple(entry.get("detect", ())),
        drop=tuple(schema.regex(f"{where} drop", d, 0) for d in entry.get("drop", [])),
        extract=tuple(extract),
        time=entry.get("time"),
        time_format=time_format,
        upstream=entry.get("upstream"),
        status=entry.get("status"),
        messages=entry.get("messages"),
        hints=tuple(
            h if h == "*" else schema.one_of(f"{where} hints", h, PRODUCTS)
            for h in entry.get("hints", [])
        ),
        next=schema.text(f"{where} next", entry["next"]) if "next" in entry else None,
        gate=tuple(schema.text(f"{where} gate", word) for word in entry.get("gate", [])),
        loose=_flag(f"{where} loose", entry.get("loose", False)),
        guesses=_guesses(entry.get("guess", {}), f"{where} guess"),
        words=tuple(literals.required(form) for form in line) if line else (),
        extract_words=tuple(literals.required(pattern) for _, pattern in extract),
    )


def _lines(where: str, forms: object) -> tuple[re.Pattern[str], ...] | None:
    """A format's line pattern, or its alternatives (tried in turn)."""
    if forms is None:
        return None
    if isinstance(forms, str):
        forms = [forms]
    if not isinstance(forms, list) or not forms:
        raise KnowledgeError(f"{where} line: give a regular expression, or a list of them")
    return tuple(schema.regex(f"{where} line", form, 0) for form in forms)


def _flag(where: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise KnowledgeError(f"{where}: write true or false")
    return value


def _hint(where: str, raw: dict[str, Any]) -> Hint:
    entry = schema.keys(where, raw, ("product", "match"))
    return Hint(
        product=schema.one_of(f"{where} product", entry["product"], PRODUCTS),
        match=schema.regex(f"{where} match", entry["match"], 0),
    )


def _guesses(raw: dict[str, Any], table: str = "logs.toml [guess]") -> dict[int, Guess]:
    found = {}
    for status, entry in raw.items():
        where = f"{table} {status}"
        entry = schema.keys(where, entry, ("cause", "confidence"))
        code = schema.status(where, int(status)) if status.isdigit() else None
        if code is None:
            raise KnowledgeError(f"{where}: the key must be an HTTP status")
        confidence = float(schema.number(f"{where} confidence", entry["confidence"], 0.05, 0.6))
        found[code] = Guess(
            schema.one_of(f"{where} cause", entry["cause"], CAUSE_CODES), confidence
        )
    return found


def _pattern(where: str, n: int, raw: dict[str, Any], formats: dict[str, LogFormat]) -> LogPattern:
    entry = schema.keys(
        where,
        raw,
        ("format", "match", "cause", "confidence", "source", "example"),
        ("evidence", "status", "title", "explanation"),
    )
    fmt = formats.get(entry["format"])
    if fmt is None:
        raise KnowledgeError(f"{where} format: {entry['format']!r} is not one of {sorted(formats)}")
    groups = _groups(fmt)
    match = entry["match"]
    if not isinstance(match, dict) or not match:
        raise KnowledgeError(f"{where} match: expected {{ field = 'regex', ... }}")
    _known(f"{where} match", list(match), groups)
    if "evidence" in entry:
        _template(f"{where} evidence", entry["evidence"], groups)
    compiled = tuple(
        (field, schema.regex(f"{where} match.{field}", regex, 0)) for field, regex in match.items()
    )
    return LogPattern(
        key=f"{fmt.name}#{n}",
        format=fmt,
        match=compiled,
        words=tuple(literals.required(regex) for _, regex in compiled),
        cause=schema.one_of(f"{where} cause", entry["cause"], CAUSE_CODES),
        confidence=float(schema.number(f"{where} confidence", entry["confidence"], 0.05, 1)),
        status=schema.status(f"{where} status", entry["status"]) if "status" in entry else None,
        evidence=entry.get("evidence"),
        source=schema.text(f"{where} source", entry["source"]),
        example=schema.text(f"{where} example", entry["example"]),
        title=_wording(f"{where} title", entry.get("title")),
        explanation=_wording(f"{where} explanation", entry.get("explanation")),
    )


def _wording(where: str, value: object) -> str | None:
    if value is None:
        return None
    return schema.placeholders(where, schema.text(where, value).strip(), PLACEHOLDERS)


def _groups(fmt: LogFormat) -> set[str] | None:
    """The fields a regex format can produce (None: a JSON object's keys, unknown here)."""
    if fmt.line is None:
        return None
    found = set().union(*(set(form.groupindex) for form in fmt.line))
    for _, pattern in fmt.extract:
        found |= set(pattern.groupindex)
    return found


def _known(where: str, names: list[str], groups: set[str] | None) -> None:
    if groups is None:
        return
    unknown = sorted(set(names) - groups)
    if unknown:
        raise KnowledgeError(
            f"{where}: unknown field(s) {unknown}; the format has {sorted(groups)}"
        )


def _template(where: str, template: object, groups: set[str] | None) -> None:
    schema.text(where, template)
    try:
        names = _template_fields(str(template))
    except ValueError as exc:
        raise KnowledgeError(f"{where}: {exc}") from None
    if not names:
        raise KnowledgeError(f"{where}: names no {{field}}")
    _known(where, names, groups)


def _example_is_explained(knowledge: LogKnowledge, pattern: LogPattern) -> None:
    where = f"logs.toml pattern {pattern.key} ({pattern.cause})"
    found = knowledge.classify(pattern.example)
    if found is None:
        raise KnowledgeError(
            f"{where}: its example is explained by no pattern, so it can never match"
        )
    if found[0] is not pattern:
        raise KnowledgeError(
            f"{where}: its example is explained by pattern {found[0].key} ({found[0].cause}) "
            "above it, so it can never match"
        )
