"""Watches: subscribe a channel, check on a schedule, alert quietly, announce recovery.

The service is the parts put together, each with one job: `Adoption` (which watches
run here, as the fleet decides), `Subscriptions` (watch, unwatch, list), `AlertButtons`,
`Mutes`, `CheckRunner` (one scheduled check), `Warnings` (certificates, the bot's own
network), `AlarmClock` (reminders, escalation, mute ends) and `WriteBehind` (history
and counters in batches), over the shared state in bot/watch/core.py. App Home reads
them through a `WatchQuery`. With several replicas on PostgreSQL the fleet
(bot/watch/fleet.py) decides which replica runs what; the `Role` says it to the parts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from bot.chat import Chat
from bot.commands import Mute, Watch
from bot.migrations import opened
from bot.record.post import Timelines
from bot.render.slack import button_data
from bot.settings import Settings
from bot.watch.adoption import Adoption
from bot.watch.alarm_clock import AlarmClock
from bot.watch.buttons import AlertButtons, Press
from bot.watch.core import Watched, row_id
from bot.watch.fleet import RESYNC, PostgresFleet, Solo
from bot.watch.home import Home
from bot.watch.incidents import Incidents
from bot.watch.model import WatchInfo
from bot.watch.mutes import Mutes
from bot.watch.query import WatchQuery
from bot.watch.records import Store
from bot.watch.role import Role
from bot.watch.runner import CheckRunner
from bot.watch.scheduler import Scheduler
from bot.watch.shards import shard_of
from bot.watch.subscriptions import StoredWatch, Subscriptions
from bot.watch.warnings import Warnings
from checks.models import Target
from checks.run import CheckFunction, check

__all__ = ["Press", "StoredWatch", "WatchService"]

log = logging.getLogger(__name__)

FLUSH_EVERY = 1.0


class WatchService:
    """Start and stop the parts; the commands' and buttons' entry points."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        chat: Chat,
        check_function: CheckFunction | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        max_in_flight: int = 200,
        fleet: Solo | PostgresFleet | None = None,
    ) -> None:
        self.fleet = fleet or Solo()
        self.role = Role(self.fleet)
        core = Watched(
            store, settings, chat, check_function or check, clock, self.role, max_in_flight
        )
        self.core = core
        self.warnings = Warnings(core)
        self.runner = CheckRunner(core, self.warnings)
        core.run = self.runner.run
        self.mutes = Mutes(core, self.runner)
        self.alarm_clock = AlarmClock(core, self.mutes)
        self.buttons = AlertButtons(core, self.runner, self.mutes)
        self.subscriptions = Subscriptions(core)
        self.adoption = Adoption(core)
        self.home = Home(chat, WatchQuery(core), self.subscriptions, self.mutes, self.runner)
        core.changed = self.home.changed
        self.timelines = Timelines(core.incidents.record, self._alert_ts)
        self._housekeeper: asyncio.Task[None] | None = None
        self._alarms: asyncio.Task[None] | None = None

    # --- what the parts share, for the app, the health checks and the tests ------------

    @property
    def store(self) -> Store:
        return self.core.store

    @property
    def settings(self) -> Settings:
        return self.core.settings

    @property
    def watches(self) -> dict[int, WatchInfo]:
        return self.core.watches

    @property
    def scheduler(self) -> Scheduler:
        return self.core.scheduler

    @property
    def incidents(self) -> Incidents:
        return self.core.incidents

    @property
    def leading(self) -> bool:
        return self.role.leading

    # --- life cycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Open the database, start the clocks, and join the fleet (alone with SQLite)."""
        await opened(self.store)  # start-up brings the schema up to date
        self.scheduler.start()
        await self.incidents.escalations.start()
        loop = asyncio.get_running_loop()
        self._housekeeper = loop.create_task(self._housekeeping())
        # Every replica runs the alarm clock, over the watches it runs.
        self._alarms = loop.create_task(self.alarm_clock.forever())
        await self.fleet.start(self)

    async def shards_changed(
        self, gained: frozenset[int], lost: frozenset[int], handing_over: bool
    ) -> None:
        """The fleet moved shards (bot/watch/fleet.py): let go of the watches of `lost`,
        then schedule those of `gained` from the watches table."""
        if lost:
            await self.adoption.let_go(lost, handing_over)
        if gained:
            await self.adoption.take(gained)
            # escalation events that a killed holder of these watches (or this process,
            # before a kill -9) left unsent: their new holder sends them
            await self.incidents.escalations.resend_pending(
                lambda watch_id: shard_of(watch_id) in gained
            )

    async def changed(self, what: str, watch_id: int) -> None:
        await self.adoption.changed(what, watch_id)

    async def stop(self) -> None:
        """Finish the running checks and write them down, then let another replica run them."""
        await self.home.stop()
        await _cancel(self._alarms)
        await self.scheduler.stop()
        if self.adoption.background:
            await asyncio.wait(set(self.adoption.background), timeout=5)
        await _cancel(self._housekeeper)
        await self.incidents.escalations.stop()
        await self.flush()
        await self.fleet.stop()
        await self.store.close()

    async def flush(self) -> None:
        await self.core.write_behind.flush()

    async def _housekeeping(self) -> None:
        """Once a second the write-behind; now and then a re-read of the watches table and
        the pruning of old history."""
        clock = self.core.clock
        pruned_at = clock()
        while True:
            await asyncio.sleep(FLUSH_EVERY)
            await self.flush()
            if self.role.runs_any and (clock() - self.adoption.resynced).total_seconds() > RESYNC:
                with contextlib.suppress(SQLAlchemyError, OSError):
                    await self.adoption.resync()
            if self.leading and clock() - pruned_at > timedelta(hours=1):
                pruned_at = clock()
                with contextlib.suppress(SQLAlchemyError, OSError):
                    await self.store.prune_history(pruned_at)
                    await self.prune_records(pruned_at)

    async def prune_records(self, now: datetime) -> int:
        """Forget incident records older than GATEWAY_KEEP_INCIDENTS (the leader does it)."""
        record = self.incidents.record
        if not self.leading or not record.keeping:
            return 0
        keep = timedelta(seconds=self.settings.keep_incidents)
        return await record.store.purge(now - keep)

    # --- commands, buttons, and the clock's and scheduler's entry points ------------------

    async def watch(self, chat: Chat, team: str, channel: str, user: str, command: Watch) -> None:
        await self.subscriptions.watch(chat, team, channel, user, command)

    async def store_watch(
        self, team: str, channel: str, user: str, command: Watch
    ) -> StoredWatch | str:
        return await self.subscriptions.store(team, channel, user, command)

    async def confirm_watch(self, chat: Chat, stored: StoredWatch) -> None:
        await self.subscriptions.confirm(chat, stored)

    async def unwatch(self, chat: Chat, channel: str, user: str, target: Target) -> None:
        await self.subscriptions.unwatch(chat, channel, user, target)

    async def remove_watch(self, watch_id: int) -> None:
        await self.subscriptions.remove(watch_id)

    async def list_watches(self, chat: Chat, channel: str, user: str) -> None:
        try:
            rows = await self.store.watches(channel)
        except (ValueError, TypeError, OverflowError):  # a row that cannot be read
            rows = [row for row in await self.adoption.rows() if row.channel == channel]
        await self.subscriptions.list(chat, channel, user, rows)

    async def mute_command(self, chat: Chat, channel: str, user: str, command: Mute) -> None:
        await self.mutes.mute_command(chat, channel, user, command)

    async def unmute_command(self, chat: Chat, channel: str, user: str, target: Target) -> None:
        await self.mutes.unmute_command(chat, channel, user, target)

    async def acknowledge(self, chat: Chat, press: Press, value: str) -> None:
        await self.buttons.acknowledge(chat, press, value)

    async def mute(self, chat: Chat, press: Press, value: str) -> None:
        await self.buttons.mute(chat, press, value)

    async def recheck(self, chat: Chat, press: Press, value: str) -> None:
        await self.buttons.recheck(chat, press, value)

    async def _alert_ts(self, incident_id: int) -> str | None:
        incident = await self.store.incident(incident_id)
        return incident.alert_ts if incident is not None else None

    async def timeline_button(self, chat: Chat, press: Press, value: str) -> None:
        """The alert's Timeline button: its incident's record, if it is this channel's."""
        data = button_data(value)
        watch_id, incident_id = row_id(data.get("w")), row_id(data.get("i"))
        if watch_id is None or incident_id is None:
            return
        await self.timelines.button(
            chat, press.team, press.channel, press.user, watch_id, incident_id
        )

    async def unwatch_button(self, chat: Chat, press: Press, value: str) -> None:
        await self.buttons.unwatch(chat, press, value)

    async def run(self, watch_id: int) -> None:
        await self.runner.run(watch_id)

    async def sweep(self) -> None:
        await self.alarm_clock.sweep()

    async def alarm(self, watch_id: int) -> None:
        await self.alarm_clock.alarm(watch_id)


async def _cancel(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
