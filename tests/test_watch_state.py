"""The alerting rules, as the pure state machine applies them."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.watch.state import (
    Event,
    Incident,
    Memory,
    Outcome,
    Policy,
    Rules,
    Timers,
    alarms,
    step,
)

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
RULES = Rules(fail_after=2, recover_after=2, interval=timedelta(minutes=1))


def run(results, memory=None, incident=None, rules=RULES, hold=False):
    """Feed results (True healthy, False failing, or a key string for a failure)."""
    memory = memory or Memory()
    events = []
    for minute, result in enumerate(results):
        healthy = result is True
        key = result if isinstance(result, str) else "502|upstream_refused|nginx"
        memory, event = step(
            memory, Outcome(T0 + timedelta(minutes=minute), healthy, key), rules, incident, hold
        )
        events.append(event)
        if event in (Event.OPENED, Event.REOPENED):
            incident = Incident(key=key)
        if event is Event.CHANGED and incident:
            incident = Incident(key=key)
    return memory, events


def test_one_failure_is_not_an_incident():
    _, events = run([True, False, True, True])
    assert Event.OPENED not in events


def test_n_consecutive_failures_open_one_incident():
    memory, events = run([True, False, False, False, False])
    assert events.count(Event.OPENED) == 1
    assert events[2] is Event.OPENED
    assert events[3:] == [Event.STILL_DOWN, Event.STILL_DOWN]
    assert memory.state == "down"
    assert memory.failing_since == T0 + timedelta(minutes=1)  # the first failure, not the alert


def test_after_n_is_configurable():
    _, events = run([False, False, False], rules=Rules(fail_after=3))
    assert events == [Event.NOTHING, Event.NOTHING, Event.OPENED]


def test_a_changed_diagnosis_is_worth_a_reply_once():
    _, events = run([False, False, "504|upstream_timeout|nginx", "504|upstream_timeout|nginx"])
    assert events[2:] == [Event.CHANGED, Event.STILL_DOWN]


def test_recovery_needs_consecutive_healthy_checks():
    memory, events = run([False, False, True, False, True, True])
    assert events[2:] == [Event.RECOVERING, Event.STILL_DOWN, Event.RECOVERING, Event.RECOVERED]
    assert memory == Memory(state="healthy", last_checked_at=T0 + timedelta(minutes=5))


def test_a_recovery_while_the_bot_was_away_is_reported_on_the_next_check():
    memory, _ = run([False, False])
    later = memory.last_checked_at + timedelta(minutes=30)
    memory, event = step(
        memory, Outcome(later, True, "200|healthy|-"), RULES, Incident("502|upstream_refused|nginx")
    )
    assert event is Event.RECOVERED


def test_failing_again_soon_after_a_recovery_reopens_the_same_incident():
    memory, _ = run([False, False, True, True])
    resolved = Incident(key="502|upstream_refused|nginx", resolved_at=T0 + timedelta(minutes=3))
    memory, events = run([False, False], memory=memory, incident=resolved)
    assert events == [Event.NOTHING, Event.REOPENED]


def test_failing_long_after_a_recovery_is_a_new_incident():
    old = Incident(key="502|upstream_refused|nginx", resolved_at=T0 - timedelta(hours=5))
    _, events = run([False, False], incident=old)
    assert events == [Event.NOTHING, Event.OPENED]


def test_alerts_are_held_while_the_bots_own_network_is_in_doubt():
    memory, events = run([False, False, False], hold=True)
    assert events == [Event.NOTHING, Event.HELD, Event.HELD]
    assert memory.state == "healthy" and memory.failures == 3
    memory, event = step(memory, Outcome(T0 + timedelta(minutes=3), False, "x"), RULES)
    assert event is Event.OPENED  # the doubt is gone: the failures count at once


# --- an open incident's clock: reminders, escalation, mute windows ----------------------

POLICY = Policy(remind_every=timedelta(minutes=30), escalate_after=timedelta(minutes=15))
OPEN = Timers(open=True, announced_at=T0)


def at(minutes: float):
    return T0 + timedelta(minutes=minutes)


@pytest.mark.parametrize(
    ("timers", "minutes", "due"),
    [
        (OPEN, 10, ()),
        (OPEN, 15, (Event.ESCALATE,)),
        (replace(OPEN, escalated_at=at(15)), 29, ()),
        (replace(OPEN, escalated_at=at(15)), 30, (Event.REMIND,)),
        (OPEN, 31, (Event.ESCALATE, Event.REMIND)),  # the bot was away: both at once
        (replace(OPEN, escalated_at=at(15), reminded_at=at(30)), 59, ()),
        (replace(OPEN, escalated_at=at(15), reminded_at=at(30)), 60, (Event.REMIND,)),
        (replace(OPEN, acknowledged=True), 90, ()),  # acknowledged: no more noise
        (Timers(open=False), 90, ()),
        (replace(OPEN, muted_until=at(120)), 90, ()),  # planned work: quiet
        (replace(OPEN, muted_until=at(120)), 120, (Event.UNMUTED,)),  # announced: resume
        (Timers(open=True, muted_until=at(120)), 121, (Event.RELEASE,)),  # held: check again
        (Timers(open=False, muted_until=at(120)), 121, (Event.UNMUTED,)),
    ],
)
def test_an_open_incidents_clock_says_when_to_remind_escalate_and_release(timers, minutes, due):
    assert alarms(timers, at(minutes), POLICY, can_escalate=True) == due


def test_no_escalation_without_somewhere_to_escalate_to_and_never_means_never():
    assert alarms(OPEN, at(31), POLICY, can_escalate=False) == (Event.REMIND,)
    never = Policy(remind_every=None, escalate_after=None)
    assert alarms(OPEN, at(10_000), never, can_escalate=True) == ()


def test_a_held_incident_is_neither_reminded_nor_escalated_until_released():
    held = Timers(open=True, announced_at=None)
    assert alarms(held, at(500), POLICY, can_escalate=True) == ()
