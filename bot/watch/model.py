"""A watch as the service keeps it in memory (the database holds the same)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.watch.state import Memory, Rules
from checks.expect import Expectations


@dataclass
class WatchInfo:
    """A watch as the service keeps it in memory (the database holds the same)."""

    id: int
    team: str
    channel: str
    url: str
    interval_s: float
    fail_after: int
    recover_after: int
    memory: Memory
    muted_until: datetime | None = None
    cert_warned: str | None = None
    notify: tuple[str, ...] = ()  # Slack IDs (bot/alert_syntax.py)
    expect: Expectations = field(default_factory=Expectations)
    muted_by: str | None = None
    mute_reason: str | None = None

    @property
    def rules(self) -> Rules:
        return Rules(
            fail_after=self.fail_after,
            recover_after=self.recover_after,
            interval=timedelta(seconds=self.interval_s),
        )


def watch_info(row) -> WatchInfo:
    """A WatchInfo from a row of the watches table."""
    return WatchInfo(
        id=row.id,
        team=row.team,
        channel=row.channel,
        url=row.url,
        interval_s=row.interval_s,
        fail_after=row.fail_after,
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
        notify=tuple((row.notify or "").split()),
        expect=Expectations.from_dict(json.loads(row.expectations or "{}")),
        muted_by=row.muted_by,
        mute_reason=row.mute_reason,
    )


def future(moment: datetime | None, now: datetime) -> datetime | None:
    """`moment` if it is still ahead of `now`, else None (a mute that ran out)."""
    return moment if moment is not None and moment > now else None
