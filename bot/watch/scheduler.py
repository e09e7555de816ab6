"""The watches' clock: APScheduler 3 in the bot's event loop.

One interval job per watch, rebuilt from the watches table at start-up (the
database is the one source of truth; the job store is memory). First runs are
spread over the interval and every run gets jitter, so a thousand watches on
one interval never fire at once; missed runs coalesce into one; a semaphore
bounds the checks in flight. The lag between a run's scheduled time and its
start is recorded, because a scheduler that falls behind should say so.

Runs fall on TICK boundaries: at 10,000 watches a minute the checks start in
groups of a dozen or so every tenth of a second rather than one by one, so the
event loop wakes once for a group instead of once per check, which is most of
what a scheduled check costs in CPU (bench/watch_scale.py); a run starts at
most one tick later than its jitter alone would have it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from apscheduler.events import EVENT_JOB_SUBMITTED, JobSubmissionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot import metrics

log = logging.getLogger(__name__)

MAX_JITTER = 5.0  # seconds
TICK = 0.1  # seconds: runs are grouped on these boundaries


def _on_tick(moment: datetime) -> datetime:
    """The first TICK boundary at or after `moment`."""
    ticks = math.ceil(round(moment.timestamp() / TICK, 6))
    return datetime.fromtimestamp(ticks * TICK, tz=moment.tzinfo or UTC)


class _TickedInterval(IntervalTrigger):  # type: ignore[misc]  # apscheduler is untyped
    """APScheduler's interval trigger (with its jitter), its fire times on TICK boundaries."""

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        fire: datetime | None = super().get_next_fire_time(previous_fire_time, now)
        return _on_tick(fire) if fire is not None else None


LAGS_KEPT = 100_000


class Scheduler:
    def __init__(self, run: Callable[[int], Awaitable[None]], max_in_flight: int = 200) -> None:
        self._run = run
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self._scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self._scheduler.add_listener(self._submitted, EVENT_JOB_SUBMITTED)
        self._due: dict[str, datetime] = {}
        self.lags: deque[float] = deque(maxlen=LAGS_KEPT)
        self._running: set[asyncio.Task[None]] = set()
        self.runs = 0

    def start(self) -> None:
        self._scheduler.start()

    async def stop(self, timeout: float = 10.0) -> None:
        """No new runs; let the running checks finish (an alert half-posted is worse than a
        slow stop), then shut down."""
        if not self._scheduler.running:
            return
        self._scheduler.pause()
        deadline = time.monotonic() + timeout
        await asyncio.sleep(0)  # runs submitted a moment ago start, and so are waited for
        while self._running and time.monotonic() < deadline:
            await asyncio.wait(set(self._running), timeout=deadline - time.monotonic())
            await asyncio.sleep(0)
        self._scheduler.shutdown(wait=False)

    def add(self, watch_id: int, interval_s: float, first_in: float | None = None) -> None:
        """Schedule (or reschedule) a watch; its first run within `first_in` seconds."""
        jitter = min(MAX_JITTER, interval_s * 0.1)
        delay = random.uniform(0, interval_s) if first_in is None else first_in
        self._scheduler.add_job(
            self._job,
            _TickedInterval(seconds=interval_s, jitter=jitter or None, timezone=UTC),
            args=[watch_id],
            id=_job_id(watch_id),
            replace_existing=True,
            next_run_time=_on_tick(datetime.now(UTC) + timedelta(seconds=delay)),
        )

    def remove(self, watch_id: int) -> None:
        if self._scheduler.get_job(_job_id(watch_id)) is not None:
            self._scheduler.remove_job(_job_id(watch_id))

    def scheduled(self) -> int:
        return len(self._scheduler.get_jobs())

    def _submitted(self, event: JobSubmissionEvent) -> None:
        if event.scheduled_run_times:
            self._due[event.job_id] = event.scheduled_run_times[-1]

    async def _job(self, watch_id: int) -> None:
        due = self._due.pop(_job_id(watch_id), None)
        if due is not None:
            lag = max(0.0, time.time() - due.timestamp())
            self.lags.append(lag)
            metrics.SCHEDULER_LAG.observe(lag)
        self.runs += 1
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        async with self._in_flight:
            try:
                await self._run(watch_id)
            except Exception:  # one failing watch never stops the scheduler or the others
                log.exception("watch %s failed", watch_id)


def _job_id(watch_id: int) -> str:
    return f"watch-{watch_id}"
