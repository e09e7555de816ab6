"""When a watch alerts, stays quiet, and recovers. Pure: no I/O, no clock.

A watch is healthy until `fail_after` consecutive checks fail; then one
incident opens. While it stays down nothing new is posted at the top level;
the alert is edited, and a thread reply is due only when the diagnosis
changes. `recover_after` consecutive healthy checks close it. A failure soon
after a recovery reopens the same incident (flapping folds into it), and
alerts are held while the bot's own network is in doubt.

Between checks, an open incident's own clock (`alarms`) says when to remind
its thread, when to escalate outside Slack, and when a mute over an unannounced
incident has run out.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

FLAP_WINDOW = timedelta(minutes=30)
STALE_FACTOR = 2.5  # a gap this many intervals long means the bot itself was away


class Event(enum.StrEnum):
    NOTHING = "nothing"  # healthy and staying so, or a failure still under the threshold
    HELD = "held"  # would open an incident, but the bot's own network is in doubt
    OPENED = "opened"  # post the alert and the diagnosis
    REOPENED = "reopened"  # flapping: the last incident comes back instead of a new alert
    STILL_DOWN = "still_down"  # edit the alert
    CHANGED = "changed"  # edit the alert, and say in its thread what changed
    RECOVERING = "recovering"  # a healthy check inside an incident, not yet enough
    RECOVERED = "recovered"  # reply in the thread (to the channel too), mark resolved
    # --- from an open incident's clock, not from a check (see `alarms`) ---
    REMIND = "remind"  # open, unacknowledged, quiet for `remind_every`: broadcast a reminder
    ESCALATE = "escalate"  # unacknowledged for `escalate_after` since the alert: page, once
    RELEASE = "release"  # a mute ran out over a held incident: re-check, alert if still failing
    UNMUTED = "unmuted"  # a mute ran out with nothing held: forget it


@dataclass(frozen=True)
class Memory:
    """What a watch remembers between checks (persisted with the watch)."""

    state: str = "healthy"  # healthy | down
    failures: int = 0
    successes: int = 0
    failing_since: datetime | None = None
    last_checked_at: datetime | None = None


@dataclass(frozen=True)
class Outcome:
    """One check's result, reduced to what alerting needs."""

    at: datetime
    healthy: bool
    key: str  # what the diagnosis said: status, cause, gateway; a change is worth a reply


@dataclass(frozen=True)
class Rules:
    fail_after: int = 2
    recover_after: int = 2
    interval: timedelta = timedelta(minutes=1)


@dataclass(frozen=True)
class Incident:
    """The open incident (or the last one, for flapping), as the state machine sees it."""

    key: str
    resolved_at: datetime | None = None


def step(
    memory: Memory,
    outcome: Outcome,
    rules: Rules,
    incident: Incident | None = None,
    hold: bool = False,
) -> tuple[Memory, Event]:
    """The next memory and what to do about it."""
    away = (
        memory.last_checked_at is not None
        and outcome.at - memory.last_checked_at > rules.interval * STALE_FACTOR
    )
    memory = replace(memory, last_checked_at=outcome.at)
    if memory.state == "down":
        return _while_down(memory, outcome, rules, incident, away)
    if outcome.healthy:
        return replace(memory, failures=0, successes=0, failing_since=None), Event.NOTHING
    failing = replace(
        memory,
        failures=memory.failures + 1,
        successes=0,
        failing_since=memory.failing_since or outcome.at,
    )
    if failing.failures < rules.fail_after:
        return failing, Event.NOTHING
    if hold:
        return failing, Event.HELD
    recent = (
        incident is not None
        and incident.resolved_at is not None
        and outcome.at - incident.resolved_at <= FLAP_WINDOW
    )
    return replace(failing, state="down"), Event.REOPENED if recent else Event.OPENED


def _while_down(
    memory: Memory, outcome: Outcome, rules: Rules, incident: Incident | None, away: bool
) -> tuple[Memory, Event]:
    if not outcome.healthy:
        down = replace(memory, failures=memory.failures + 1, successes=0)
        changed = incident is not None and incident.key != outcome.key
        return down, Event.CHANGED if changed else Event.STILL_DOWN
    successes = memory.successes + 1
    # After the bot was away, the first healthy check is all the evidence there will be.
    if successes >= rules.recover_after or away:
        return Memory(state="healthy", last_checked_at=outcome.at), Event.RECOVERED
    return replace(memory, successes=successes), Event.RECOVERING


@dataclass(frozen=True)
class Policy:
    """How persistent an unacknowledged incident is (settings, the same for every watch)."""

    remind_every: timedelta | None = timedelta(minutes=30)  # None: never remind
    escalate_after: timedelta | None = timedelta(minutes=15)  # None: never escalate


@dataclass(frozen=True)
class Timers:
    """An open incident's clock, and its watch's mute."""

    open: bool = False  # an incident is open (the watch is down)
    announced_at: datetime | None = None  # None: never posted (held by a mute)
    acknowledged: bool = False
    reminded_at: datetime | None = None
    escalated_at: datetime | None = None
    muted_until: datetime | None = None


def alarms(timers: Timers, now: datetime, policy: Policy, can_escalate: bool) -> tuple[Event, ...]:
    """What is due at `now`, escalation first; the caller records what it did."""
    if timers.muted_until is not None:
        if now < timers.muted_until:
            return ()  # planned work: checks go on, nothing is said
        # The window is over: a held incident is checked again (and opens if still failing).
        held = timers.open and timers.announced_at is None
        return (Event.RELEASE,) if held else (Event.UNMUTED,)
    if not timers.open or timers.announced_at is None or timers.acknowledged:
        return ()
    due = []
    if (
        can_escalate
        and policy.escalate_after is not None
        and timers.escalated_at is None
        and now - timers.announced_at >= policy.escalate_after
    ):
        due.append(Event.ESCALATE)
    last = max(t for t in (timers.announced_at, timers.reminded_at) if t is not None)
    if policy.remind_every is not None and now - last >= policy.remind_every:
        due.append(Event.REMIND)
    return tuple(due)


def diagnosis_key(status: int | None, cause: str, product: str | None) -> str:
    return f"{status if status is not None else '-'}|{cause}|{product or '-'}"
