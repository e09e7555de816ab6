"""Small checks that knowledge data is well formed, raising one clear error each.

Every knowledge file is read through these, so a misspelt key, a value outside
its vocabulary or a pattern that cannot compile fails when the file is loaded,
with the file and the table it is in, never later in the middle of an incident.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from typing import Any


class KnowledgeError(ValueError):
    """A knowledge file breaks the contract's vocabulary or its own schema."""


def keys(
    where: str, entry: Any, required: Iterable[str], optional: Iterable[str] = ()
) -> dict[str, Any]:
    """The entry as a table holding every required key and no key it does not know."""
    if not isinstance(entry, dict):
        raise KnowledgeError(f"{where}: expected a table, got {type(entry).__name__}")
    required, optional = set(required), set(optional)
    missing = required - set(entry)
    unknown = set(entry) - required - optional
    if missing:
        raise KnowledgeError(f"{where}: missing {sorted(missing)}")
    if unknown:
        raise KnowledgeError(
            f"{where}: unknown key(s) {sorted(unknown)}; known: {sorted(required | optional)}"
        )
    return entry


def one_of(where: str, value: Any, allowed: Iterable[str]) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise KnowledgeError(f"{where}: {value!r} is not one of {', '.join(allowed)}")
    return str(value)


def text(where: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise KnowledgeError(f"{where}: expected non-empty text")
    return value


def texts(where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise KnowledgeError(f"{where}: expected a non-empty list of texts")
    return tuple(text(f"{where}[{i}]", item) for i, item in enumerate(value))


def number(where: str, value: Any, low: float, high: float, *, integer: bool = False) -> float:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
        kind = "a whole number" if integer else "a number"
        raise KnowledgeError(f"{where}: expected {kind} from {low} to {high}, got {value!r}")
    return value


def status(where: str, value: Any) -> int:
    """A status code as a rule may name it: three digits at most (rules also catch the
    out-of-range statuses a broken server sends, 0-99 and 600-999)."""
    return int(number(where, value, 0, 999, integer=True))


def regex(where: str, value: Any, flags: int = re.IGNORECASE) -> re.Pattern[str]:
    text(where, value)
    try:
        return re.compile(value, flags)
    except re.error as exc:
        raise KnowledgeError(f"{where}: invalid regular expression: {exc}") from None


def placeholders(where: str, value: str, allowed: frozenset[str]) -> str:
    """Text that str.format_map can fill with the allowed names, and Slack shows as is."""
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(value) if name is not None]
    except ValueError as exc:
        raise KnowledgeError(f"{where}: {exc} (write literal braces doubled)") from None
    unknown = sorted({f for f in fields if f not in allowed})
    if unknown:
        raise KnowledgeError(
            f"{where}: unknown placeholder(s) {unknown}; known: {sorted(allowed)} "
            "(write literal braces doubled)"
        )
    if any(ch in value for ch in "<>&"):
        raise KnowledgeError(
            f"{where}: no angle brackets or ampersands (Slack would need them escaped)"
        )
    return value
