"""What a watch expects of a site beyond "it answers": conditions as data. Pure.

`expect 200 301`, `contains "Add to cart"`, `!contains "maintenance"`,
`header X-Served-By: edge-1` and `slow 800ms` are written as an `Expectations`
record and judged here, one HTTP sample at a time; the diagnosis engine ranks
what fails like any other cause. A 200 maintenance page or soft error page is a
failure with its evidence: the status, the words around where the text was (or
the start of the page), the header as it came, and the timing against the
threshold.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from checks.models import HttpSample
from checks.steps import body_excerpt

DEFAULT_SLOW_MS = 2000.0
AROUND = 60  # characters shown either side of an unwanted text
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Expectations:
    statuses: tuple[int, ...] = ()  # empty: any status below 400 that no rule calls failing
    contains: tuple[str, ...] = ()  # each must be on the page (case-insensitive)
    absent: tuple[str, ...] = ()  # none may be on the page (case-insensitive)
    slow_ms: float | None = None  # None: DEFAULT_SLOW_MS
    # a response header the answer must carry: (name, value); the name is matched
    # case-insensitively, the value exactly (spaces around it aside); None: no rule
    header: tuple[str, str] | None = None

    @property
    def slow_threshold(self) -> float:
        return self.slow_ms if self.slow_ms is not None else DEFAULT_SLOW_MS

    @property
    def any(self) -> bool:
        return bool(
            self.statuses
            or self.contains
            or self.absent
            or self.slow_ms is not None
            or self.header is not None
        )

    def describe(self) -> str:
        """The expectations as the watch command writes them (empty when none)."""
        words = []
        if self.statuses:
            words.append("expect " + " ".join(str(s) for s in self.statuses))
        words += [f'contains "{text}"' for text in self.contains]
        words += [f'!contains "{text}"' for text in self.absent]
        if self.header is not None:
            words.append(header_words(*self.header))
        if self.slow_ms is not None:
            words.append(f"slow {self.slow_ms:g}ms")
        return " ".join(words)

    def to_dict(self) -> dict[str, Any]:
        return {
            "statuses": list(self.statuses),
            "contains": list(self.contains),
            "absent": list(self.absent),
            "slow_ms": self.slow_ms,
            "header": list(self.header) if self.header else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Expectations:
        data = data or {}
        slow = data.get("slow_ms")
        header = data.get("header")
        return cls(
            statuses=tuple(int(s) for s in data.get("statuses") or ()),
            contains=tuple(str(t) for t in data.get("contains") or ()),
            absent=tuple(str(t) for t in data.get("absent") or ()),
            slow_ms=float(slow) if slow is not None else None,
            header=(str(header[0]), str(header[1])) if header else None,
        )


@dataclass(frozen=True)
class Unmet:
    """One expectation a response failed: the cause code it stands for, and why."""

    code: str
    headline: str  # the diagnosis' one-line summary
    evidence: str


def status_expected(sample: HttpSample, expect: Expectations) -> bool | None:
    """True/False when the watch names its statuses, None when the usual rules decide."""
    if not expect.statuses or sample.status is None:
        return None
    return sample.status in expect.statuses


def unmet(sample: HttpSample, expect: Expectations) -> Unmet | None:
    """The first expectation this response fails (status, then text), or None."""
    if sample.status is None:
        return None
    if expect.statuses and sample.status not in expect.statuses:
        wanted = " or ".join(str(s) for s in expect.statuses)
        return Unmet(
            code=_status_code(sample.status),
            headline=f"HTTP {sample.status} where this watch expects {wanted}",
            evidence=f"expected HTTP {wanted}, got {sample.status} {sample.reason}".rstrip(),
        )
    if expect.header is not None:
        missed = _header_unmet(sample, *expect.header)
        if missed is not None:
            return missed
    page = sample.flat_body
    for text in expect.contains:
        if _fold(text) not in page:
            return Unmet(
                code="server_error",
                headline=f'HTTP {sample.status} without "{text}": not the page this watch expects',
                evidence=(
                    f'HTTP {sample.status}, but "{text}" is not on the page'
                    + (" (first 64 KiB read)" if sample.body_truncated else "")
                    + f"; it begins: '{body_excerpt(sample, 160)}'"
                ),
            )
    for text in expect.absent:
        if _fold(text) in page:
            raw = " ".join(sample.body.split())
            found = re.search(re.escape(" ".join(text.split())), raw, re.IGNORECASE)
            at, size = (found.start(), len(found.group())) if found else (0, 0)
            start = max(0, at - AROUND)
            excerpt = _CONTROL.sub(" ", raw[start : at + size + AROUND])
            return Unmet(
                code="service_unavailable",
                headline=f'HTTP {sample.status} with "{text}" on the page: '
                "a maintenance or error page served as success",
                evidence=f"HTTP {sample.status}, and the page says "
                f"'{'…' if start else ''}{excerpt}…' (this watch alerts on \"{text}\")",
            )
    return None


def header_words(name: str, value: str) -> str:
    """The rule as the watch command writes it (the value quoted when it has spaces)."""
    shown = f'"{value}"' if (" " in value or not value) else value
    return f"header {name}: {shown}"


def header_matches(sample: HttpSample, name: str, value: str) -> bool:
    """Any of the response's headers of that name (case-insensitive) has exactly that value,
    spaces around it aside."""
    wanted = name.lower()
    return any(n.lower() == wanted and v.strip() == value for n, v in sample.headers)


def _header_unmet(sample: HttpSample, name: str, value: str) -> Unmet | None:
    if header_matches(sample, name, value):
        return None
    found = [(n, v.strip()) for n, v in sample.headers if n.lower() == name.lower()]
    said = (
        _CONTROL.sub(" ", f"{found[0][0]}: {found[0][1]}")[:200] if found else f"no {name} header"
    )
    return Unmet(
        code="server_error",
        headline=f"HTTP {sample.status} with {'a different ' + name if found else said}: "
        "not the answer this watch expects",
        evidence=f"HTTP {sample.status}, {said}; this watch expects {name}: {value}",
    )


def _fold(text: str) -> str:
    return " ".join(text.lower().split())


def _status_code(status: int) -> str:
    """The contract's cause code that best names a status the watch did not expect."""
    named = {403: "forbidden", 404: "not_found", 410: "not_found", 429: "rate_limited"}
    named |= {501: "not_implemented", 503: "service_unavailable"}
    return named.get(status, "server_error")
