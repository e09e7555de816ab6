"""Between checks: reminders, escalation and the ends of mute windows, on one clock.

Every replica runs the clock over the watches it runs (their shards are its), so
each incident's reminders and escalation come from one replica, under the watch's
lock, beside its checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from bot.watch.core import Watched
from bot.watch.model import WatchInfo
from bot.watch.mutes import Mutes
from bot.watch.records import IncidentRecord
from bot.watch.state import Event, Policy, Timers, alarms

log = logging.getLogger(__name__)


class AlarmClock:
    def __init__(self, core: Watched, mutes: Mutes) -> None:
        self.core = core
        self.mutes = mutes
        escalation = core.settings.escalation
        self.policy = Policy(
            remind_every=_span(escalation.remind_every),
            escalate_after=_span(escalation.escalate_after),
        )

    async def forever(self) -> None:
        core, tick = self.core, _tick(self.policy)
        while True:
            # A mute ends on time: wake for the nearest end if it comes before the tick.
            ends = [w.muted_until for w in core.watches.values() if w.muted_until is not None]
            until_end = (min(ends) - core.clock()).total_seconds() if ends else tick
            self.mutes.wake.clear()
            with contextlib.suppress(TimeoutError):  # a new mute wakes the clock to re-plan
                await asyncio.wait_for(
                    self.mutes.wake.wait(), min(tick, max(0.2, until_end + 0.05))
                )
            try:
                await self.sweep()
            except Exception:  # the clock never stops; the next tick tries again
                log.exception("the alarm clock's sweep failed; trying again")

    async def sweep(self) -> None:
        """One look at every watch's clock: one query for the open incidents, and the
        watch's lock only for those with something due."""
        core = self.core
        if not core.role.alarms:  # the replica running the watch reminds and escalates
            return
        now = core.clock()
        concerned = [w for w in core.watches.values() if w.memory.state == "down" or w.muted_until]
        incidents = await core.store.open_incidents_of(
            [w.id for w in concerned if w.memory.state == "down"]
        )
        can_escalate = core.incidents.escalations.enabled
        for info in concerned:
            if alarms(_timers(info, incidents.get(info.id)), now, self.policy, can_escalate):
                try:
                    await self.alarm(info.id)
                except Exception:  # one watch's trouble never stops the others' clocks
                    log.exception("alarms of watch %s failed; trying again", info.id)

    async def alarm(self, watch_id: int) -> None:
        """Do what an open incident's clock says is due (bot/watch/state.py `alarms`)."""
        core = self.core
        info = core.watches.get(watch_id)
        if info is None or (info.memory.state != "down" and info.muted_until is None):
            return
        async with core.lock(watch_id):
            if core.watches.get(watch_id) is not info:
                return
            incident = (
                await core.store.open_incident(info.id) if info.memory.state == "down" else None
            )
            timers = _timers(info, incident)
            now = core.clock()
            for event in alarms(timers, now, self.policy, core.incidents.escalations.enabled):
                if event in (Event.RELEASE, Event.UNMUTED):
                    await self.mutes.end(info)
                elif incident is not None and event is Event.ESCALATE:
                    incident = await core.incidents.escalate(info, incident, now)
                elif incident is not None and event is Event.REMIND:
                    incident = await core.incidents.remind(info, incident, now)


def _timers(info: WatchInfo, incident: IncidentRecord | None) -> Timers:
    """The clock of a watch's open incident, as bot/watch/state.py `alarms` reads it."""
    return Timers(
        open=incident is not None and info.memory.state == "down",
        announced_at=incident.announced_at if incident and incident.alert_ts else None,
        acknowledged=bool(incident and incident.acknowledged_by),
        reminded_at=incident.reminded_at if incident else None,
        escalated_at=incident.escalated_at if incident else None,
        muted_until=info.muted_until,
    )


def _span(seconds: float | None) -> timedelta | None:
    return timedelta(seconds=seconds) if seconds else None


def _tick(policy: Policy) -> float:
    """How often the alarm clock looks: a quarter of the shortest period, 0.5 to 15 s."""
    spans = [s.total_seconds() for s in (policy.remind_every, policy.escalate_after) if s]
    return min(15.0, max(0.5, min(spans, default=60.0) / 4))
