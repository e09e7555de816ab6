"""One check seen from several places: each place's outcome, and the headline. Pure.

An agent's answer is hostile input: it is read field by field into a `Place`,
every string made printable and clipped, every code checked against the known
vocabularies; what is not recognised is dropped, never passed on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from checks.diagnose import Diagnosis
from checks.text import printable

HERE = "here"
STATUSES = ("healthy", "degraded", "down")
UNKNOWN, REFUSED = "unknown", "refused"
MAX_SUMMARY = 300
_POP = re.compile(r"^[A-Za-z0-9]{2,12}$")


@dataclass(frozen=True)
class Place:
    """What one place saw: a verdict, or unknown (no answer in time), or refused (its guard)."""

    name: str
    status: str  # healthy, degraded, down, unknown or refused
    cause: str | None = None
    summary: str = ""
    http_status: int | None = None
    product: str | None = None
    pop: str | None = None  # the CDN's point of presence that answered, where it says

    @property
    def known(self) -> bool:
        return self.status in STATUSES

    @property
    def failing(self) -> bool:
        return self.status in ("degraded", "down")


def from_diagnosis(name: str, diagnosis: Diagnosis) -> Place:
    headers = [h for s in diagnosis.evidence.http for h in s.headers]
    return Place(
        name=name,
        status=diagnosis.status,
        cause=diagnosis.cause.code,
        summary=_clip(diagnosis.summary),
        http_status=diagnosis.http_status,
        product=diagnosis.product,
        pop=pop_of(headers),
    )


def from_answer(
    name: str, text: str | None, causes: Iterable[str], products: Iterable[str]
) -> Place:
    """An agent's stored answer (None: none in time) read into a Place; never trusted."""
    if text is None:
        return Place(name, UNKNOWN, summary="no answer before the deadline")
    try:
        data = json.loads(text)
    except ValueError:
        return Place(name, UNKNOWN, summary="an answer that is not JSON")
    if not isinstance(data, dict):
        return Place(name, UNKNOWN, summary="an answer that is not an object")
    if isinstance(data.get("refused"), str):
        return Place(name, REFUSED, summary=_clip("refused: " + data["refused"]))
    verdict = _dict(data.get("verdict"))
    status = verdict.get("status")
    if status not in STATUSES:
        return Place(name, UNKNOWN, summary="an answer without a verdict")
    cause = _known(verdict.get("cause"), causes)
    http = _dict(data.get("http"))
    code = http.get("status")
    product = _known(_dict(data.get("gateway")).get("product"), products)
    summary = verdict.get("summary")
    summary = summary if isinstance(summary, str) else ""
    return Place(
        name=name,
        status=status,
        cause=cause,
        summary=_clip(summary),
        http_status=code if isinstance(code, int) and 100 <= code <= 999 else None,
        product=product,
        pop=pop_of(_answer_headers(http)),
    )


def _dict(value: object) -> dict[str, object]:
    return value if isinstance(value, dict) else {}


def _known(value: object, vocabulary: Iterable[str]) -> str | None:
    return value if isinstance(value, str) and value in set(vocabulary) else None


def _answer_headers(http: dict[str, object]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    attempts = http.get("attempts")
    for attempt in attempts[:10] if isinstance(attempts, list) else []:
        headers = attempt.get("headers") if isinstance(attempt, dict) else None
        for pair in headers[:100] if isinstance(headers, list) else []:
            if isinstance(pair, list) and len(pair) == 2 and all(isinstance(v, str) for v in pair):
                found.append((pair[0][:100], pair[1][:300]))
    return found


def pop_of(headers: Sequence[tuple[str, str]]) -> str | None:
    """The CDN point of presence a response names: cf-ray, x-amz-cf-pop, x-served-by."""
    for name, value in headers:
        low = name.lower()
        if low == "cf-ray":
            candidate = value.rsplit("-", 1)[-1] if "-" in value else ""
        elif low == "x-amz-cf-pop":
            candidate = value.split("-", 1)[0]
        elif low == "x-served-by":
            candidate = value.split(",", 1)[0].strip().rsplit("-", 1)[-1]
        else:
            continue
        if _POP.match(candidate):
            return candidate.upper()
    return None


def headline(places: Sequence[Place]) -> str:
    """ "down from everywhere", "down from here only", "failing from X, fine from Y"…"""
    here = next((p for p in places if p.name == HERE), None)
    agents = [p for p in places if p.name != HERE and p.known]
    known = ([here] if here is not None and here.known else []) + agents
    failing = [p.name for p in known if p.failing]
    fine = [p.name for p in known if not p.failing]
    if not agents:
        return "no agent answered in time: seen from here only"
    if not failing:
        return "up from everywhere"
    if not fine:
        return "down from everywhere"
    if failing == [HERE]:
        return "down from here only"
    return f"failing from {', '.join(failing)}, fine from {', '.join(fine)}"


def _clip(text: str) -> str:
    clean = printable(text)
    return clean if len(clean) <= MAX_SUMMARY else clean[: MAX_SUMMARY - 1] + "…"
