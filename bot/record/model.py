"""The incident record as frozen values. Pure: no I/O.

An incident's record is a header (where, what, when it started and ended) and a list of
events (each change of status or cause, who acknowledged, mutes, reminders, escalations and
their outcome, recovery). Every check inside the incident is tallied by what it said, not
stored one by one, so a long incident costs a few rows.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta


class Kind(enum.StrEnum):
    OPENED = "opened"  # the alert opened (data: status, cause, product, summary, excerpt)
    CHANGED = "changed"  # status or cause changed (data: before, after, summary)
    REOPENED = "reopened"  # failing again soon after a recovery (data: flaps, summary)
    ACKNOWLEDGED = "acknowledged"  # actor: who
    MUTED = "muted"  # actor: who (data: until, reason)
    UNMUTED = "unmuted"  # actor: who, or nobody when the window ran out
    REMINDED = "reminded"  # the thread was reminded
    ESCALATED = "escalated"  # data: to (names)
    ESCALATION_FAILED = "escalation_failed"  # data: to (name), reason
    RECOVERED = "recovered"  # data: downtime_s


@dataclass(frozen=True)
class Event:
    at: datetime
    kind: Kind
    actor: str | None = None  # a Slack user ID, as Slack sent it; never a guessed name
    data: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Record:
    """One incident, as recorded."""

    id: int
    uid: str  # unique forever (ids of deleted rows may come back on SQLite)
    team: str
    channel: str
    url: str
    host: str
    started_at: datetime  # the first failed check
    alert_ts: str | None = None  # the alert's message, whose thread holds the timeline
    recovered_at: datetime | None = None
    tally: dict[str, int] = field(default_factory=dict)  # what the checks said → how often
    incident_id: int | None = None  # the watch's incident it records (while that row exists)
    events: tuple[Event, ...] = ()

    @property
    def downtime(self) -> timedelta | None:
        """From the first failed check to the recovery; None while it lasts."""
        if self.recovered_at is None:
            return None
        return max(self.recovered_at - self.started_at, timedelta(0))

    @property
    def open(self) -> bool:
        return self.recovered_at is None
