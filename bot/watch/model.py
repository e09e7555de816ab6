"""A watch as the service keeps it in memory (the database holds the same)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.commands import MAX_INTERVAL
from bot.spec import WatchSpec
from bot.watch.records import WatchRecord
from bot.watch.state import Memory, Rules
from checks.expect import Expectations
from checks.target import TargetError, parse_target

STATES = ("healthy", "down")
MAX_COUNT = 100  # `after` was allowed up to 100 before the bound of 20; such watches still run


@dataclass
class WatchInfo:
    """A watch as the service keeps it in memory (the database holds the same)."""

    id: int
    team: str
    channel: str
    spec: WatchSpec  # what was asked for (its defaults filled in)
    recover_after: int
    memory: Memory
    muted_until: datetime | None = None
    cert_warned: str | None = None
    muted_by: str | None = None
    mute_reason: str | None = None

    @property
    def url(self) -> str:
        return self.spec.url

    @property
    def interval_s(self) -> float:
        return self.spec.interval_s

    @property
    def fail_after(self) -> int:
        return self.spec.fail_after

    @property
    def notify(self) -> tuple[str, ...]:
        return self.spec.notify

    @property
    def expect(self) -> Expectations:
        return self.spec.expect

    @property
    def rules(self) -> Rules:
        return Rules(
            fail_after=self.fail_after,
            recover_after=self.recover_after,
            interval=timedelta(seconds=self.interval_s),
        )


def spec_of(row: WatchRecord) -> WatchSpec:
    """The settings a row of the watches table holds (ValueError if it holds none)."""
    target = parse_target(row.url)
    return WatchSpec(
        target=replace(target, input=row.target_input or target.input),
        interval=row.interval_s,
        after=row.fail_after,
        expect=row.expect,
        notify=tuple((row.notify or "").split()),
    )


def watch_info(row: WatchRecord) -> WatchInfo:
    """A WatchInfo from a row of the watches table."""
    return WatchInfo(
        id=row.id,
        team=row.team,
        channel=row.channel,
        spec=spec_of(row),
        recover_after=row.recover_after,
        memory=Memory(
            state=row.state,
            failures=row.failures,
            successes=row.successes,
            failing_since=row.failing_since,
            last_checked_at=row.last_checked_at,
        ),
        muted_until=row.muted_until,
        cert_warned=row.cert_warned,
        muted_by=row.muted_by,
        mute_reason=row.mute_reason,
    )


def future(moment: datetime | None, now: datetime) -> datetime | None:
    """`moment` if it is still ahead of `now`, else None (a mute that ran out)."""
    return moment if moment is not None and moment > now else None


def unusable(row: WatchRecord) -> str | None:
    """Why a stored watch cannot run (a value no command accepts today), or None.

    Such a row, written by an older version or by hand, is skipped at start-up and
    reported; it must never stop the bot (an interval of 10^14 s overflows the clock).
    """
    interval = row.interval_s
    if not isinstance(interval, int | float) or not math.isfinite(interval):
        return "its interval is not a number"
    if not 0 < interval <= MAX_INTERVAL:
        return f"its interval of {interval:g} s is outside what a watch may have (up to 24 h)"
    for name, said in (("fail_after", "`after`"), ("recover_after", "recovery count")):
        value = getattr(row, name)
        if type(value) is not int or not 1 <= value <= MAX_COUNT:
            return f"its {said} of {value!r} is not a count from 1 to {MAX_COUNT}"
    if row.state not in STATES:
        return f"its state {row.state!r} is not one I know"
    try:
        parse_target(row.url)
    except (TargetError, ValueError):
        return "its URL is not one I can check"
    try:
        row.expect  # noqa: B018 (read to see that it can be)
    except (ValueError, TypeError, AttributeError, IndexError):
        return "its expectations are not readable"
    return None
