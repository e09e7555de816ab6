"""Scheduled runs are grouped on tick boundaries, never earlier than their jittered time."""

import random
from datetime import UTC, datetime, timedelta

from apscheduler.triggers.interval import IntervalTrigger

from bot.watch.scheduler import TICK, _TickedInterval


def test_every_fire_time_falls_on_a_tick_at_most_one_tick_after_the_plain_trigger():
    start = datetime(2026, 11, 25, 12, 0, 0, 123456, tzinfo=UTC)
    previous = start
    for seed in range(200):
        random.seed(seed)
        plain = IntervalTrigger(seconds=60, jitter=5, timezone=UTC)
        expected = plain.get_next_fire_time(previous, start)
        random.seed(seed)
        ticked = _TickedInterval(seconds=60, jitter=5, timezone=UTC)
        fire = ticked.get_next_fire_time(previous, start)
        assert fire is not None and expected is not None
        assert expected <= fire < expected + timedelta(seconds=TICK)
        assert fire.microsecond % round(TICK * 1_000_000) == 0
        previous = fire
