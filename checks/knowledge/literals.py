"""The words a regular expression cannot match without: a cheap screen before it runs.

`str.__contains__` is many times faster than a regex search, so a pattern is only
searched in text that holds one of the literal strings every match of it contains
(e.g. `connect() failed (` for nginx's refused connect). Worked out once, at load,
from the parsed expression; an expression with no such string gets no screen.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

# the regular expression parser of the standard library (re._parser since 3.11)
sre_parse: Any = importlib.import_module("re._parser")
sre_constants: Any = importlib.import_module("re._constants")

MIN_WORD = 3  # shorter strings screen out too little to pay for the check


def required(regex: re.Pattern[str]) -> tuple[str, ...] | None:
    """Strings of which every match holds at least one; None when there are none
    worth checking (or the expression ignores case)."""
    if regex.flags & re.IGNORECASE or "(?i" in regex.pattern:
        return None
    try:
        parsed = sre_parse.parse(regex.pattern, regex.flags)
    except (re.error, RecursionError):  # pragma: no cover - it compiled already
        return None
    return _sequence(list(parsed))


def _sequence(items: list[tuple[Any, Any]]) -> tuple[str, ...] | None:
    """The best screen among a sequence's literal runs and its required groups."""
    options: list[tuple[str, ...]] = []
    run: list[str] = []
    for op, arg in items:
        if op is sre_constants.LITERAL:
            run.append(chr(arg))
            continue
        if run:
            options.append(("".join(run),))
            run = []
        if op is sre_constants.BRANCH:
            found = _branch(arg[1])
            if found:
                options.append(found)
        elif op is sre_constants.SUBPATTERN:
            found = _sequence(list(arg[-1]))
            if found:
                options.append(found)
        elif op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT) and arg[0] >= 1:
            found = _sequence(list(arg[2]))
            if found:
                options.append(found)
    if run:
        options.append(("".join(run),))
    options = [o for o in options if min(len(word) for word in o) >= MIN_WORD]
    if not options:
        return None
    # the fewest alternatives, then the longest shortest word
    return min(options, key=lambda o: (len(o), -min(len(word) for word in o)))


def _branch(alternatives: list[Any]) -> tuple[str, ...] | None:
    words: list[str] = []
    for alternative in alternatives:
        found = _sequence(list(alternative))
        if not found:
            return None
        words.extend(found)
    return tuple(dict.fromkeys(words))


def holds(text: str, words: tuple[str, ...] | None) -> bool:
    """Whether the text holds one of the words (no words: no screen, always)."""
    return words is None or any(word in text for word in words)
