"""One scheduled check of one watch: a light check (one sample), a full one to confirm
before an alert opens, the bot's own network asked first, then the state machine's
event handed to bot/watch/incidents.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError

from bot import logs
from bot.render import watch_notes as notes
from bot.watch.core import Watched, ignore
from bot.watch.model import WatchInfo
from bot.watch.records import IncidentRecord
from bot.watch.selfcheck import NETWORK_CAUSES
from bot.watch.state import Event, Incident, Outcome, diagnosis_key, step
from bot.watch.warnings import Warnings
from checks.diagnose import Diagnosis
from checks.guard import TargetRefused
from checks.target import TargetError, parse_target


class CheckRunner:
    def __init__(self, core: Watched, warnings: Warnings) -> None:
        self.core = core
        self.warnings = warnings

    async def run(self, watch_id: int) -> None:
        """Check one watch and act on what changed; never raises for a site's trouble."""
        core = self.core
        async with core.lock(watch_id):
            info = core.watches.get(watch_id)
            if info is None or not core.role.runs(watch_id):
                core.scheduler.remove(watch_id)
                return
            with logs.context(watch=watch_id, channel=info.channel):
                await self.check(info)

    async def check(self, info: WatchInfo) -> None:
        """A check of a watch whose lock is held."""
        core = self.core
        diagnosis = await self._diagnose(info)
        if diagnosis is None:
            return
        now = core.clock()
        key = diagnosis_key(diagnosis.http_status, diagnosis.cause.code, diagnosis.product)
        outcome = Outcome(at=now, healthy=diagnosis.healthy, key=key)
        incident = await self._incident_for(info, outcome)
        hold = False
        if (
            not outcome.healthy
            and diagnosis.cause.code in NETWORK_CAUSES
            and (info.memory.state == "healthy" and info.memory.failures + 1 >= info.fail_after)
        ):
            hold = not await self.warnings.network_ok()
        view_incident = (
            Incident(key=incident.diagnosis_key, resolved_at=incident.resolved_at)
            if incident
            else None
        )
        before = info.memory
        info.memory, event = step(info.memory, outcome, info.rules, view_incident, hold)
        try:
            await self._act(info, event, diagnosis, incident, now)
        except SQLAlchemyError:
            info.memory = before  # the next check tries the transition again
            raise
        if event not in (Event.NOTHING, Event.HELD):
            # a transition is written at once, after its incident
            core.write_behind.save_memory(info, now=True)
        if event in (Event.OPENED, Event.REOPENED, Event.RECOVERED):
            core.changed(info.team)
        core.write_behind.record(info, diagnosis, now)
        await self.warnings.certificate(info, diagnosis)

    async def _diagnose(self, info: WatchInfo) -> Diagnosis | None:
        """The light check, confirmed by a full one when it would open an alert; None (and
        the watch removed, its channel told) when the target is refused now."""
        core = self.core
        try:
            target = parse_target(info.url)
            light = replace(core.light, expect=info.expect)
            diagnosis = await core.check_function(target, light, ignore)
            opening = (
                not diagnosis.healthy
                and info.memory.state == "healthy"
                and info.memory.failures + 1 >= info.fail_after
            )
            if opening:  # confirm with a full check before anyone is paged
                full = replace(core.settings.check, expect=info.expect)
                diagnosis = await core.check_function(target, full, ignore)
        except (TargetRefused, TargetError) as exc:
            await core.incidents.say(core.chat, info.channel, notes.dropped(info.url, str(exc)))
            await core.remove(info.id)
            return None
        return diagnosis

    async def _incident_for(self, info: WatchInfo, outcome: Outcome) -> IncidentRecord | None:
        store = self.core.store
        if info.memory.state == "down":
            return await store.open_incident(info.id)
        if not outcome.healthy and info.memory.failures + 1 >= info.fail_after:
            return await store.last_incident(info.id)  # for flapping
        return None

    async def _act(
        self,
        info: WatchInfo,
        event: Event,
        diagnosis: Diagnosis,
        incident: IncidentRecord | None,
        now: datetime,
    ) -> None:
        if event is Event.HELD:
            await self.warnings.trouble(info.channel)
            return
        if event is not Event.NOTHING or info.memory.state == "down":
            await self.warnings.network_back()
        if event in (Event.NOTHING, Event.HELD):
            return
        await self.core.incidents.act(info, event, diagnosis, incident, now)
