"""Durations as people write them (`800ms`, `30s`, `5m`, `2h`, `1d`), parsed in one place.

Pure. Each caller says which unit a bare number is in and keeps its own bounds and
its own one-line message; the grammar is the same everywhere.
"""

from __future__ import annotations

import re

_DURATION = re.compile(
    r"^(\d+(?:\.\d+)?)\s*(ms|s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?)?$",
    re.ASCII,
)
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def seconds(text: str, bare: str | None = "s", units: str = "smhd") -> float | None:
    """The seconds `text` says, or None when it is no duration.

    `bare` is the unit of a number written alone (None: a unit is required); `units`
    are the first letters of the units accepted (`ms` is `x`).
    """
    match = _DURATION.match(text.strip().lower())
    if not match:
        return None
    unit = match.group(2)
    if unit is None:
        if bare is None:
            return None
        unit = bare
    key = "ms" if unit == "ms" else unit[0]
    if ("x" if key == "ms" else key) not in units:
        return None
    return float(match.group(1)) * _UNIT_SECONDS[key]
