"""A watch's settings as the store takes them, for tests that write rows directly."""

from __future__ import annotations

from dataclasses import replace

from bot.spec import WatchSpec
from checks.target import parse_target


def stored_spec(url: str, typed: str, interval: float, after: int) -> WatchSpec:
    """The spec of a watch of `url` (typed as `typed`), stored as it is: no bounds checked,
    so tests can write the rows an older version or a hand edit left."""
    return WatchSpec(replace(parse_target(url), input=typed), interval, after)
