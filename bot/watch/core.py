"""What every part of the watch service shares: the watches this replica runs, their
locks, the store, the chat, the clock and the role. No behaviour of its own beyond
looking a watch up and letting one go.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime

from bot.chat import Chat
from bot.render import watch_notes as notes
from bot.settings import Settings
from bot.watch.incidents import Incidents
from bot.watch.model import WatchInfo, unusable, watch_info
from bot.watch.records import Store
from bot.watch.role import Role
from bot.watch.scheduler import Scheduler
from bot.watch.writebehind import WriteBehind
from checks.models import Progress, Target
from checks.run import CheckFunction


def ignore(_: Progress) -> None:
    return None


def row_id(value: object) -> int | None:
    """A database id from a button's value: a plain int in the range a row id can have."""
    return value if type(value) is int and 0 < value < 2**63 else None


class Watched:
    """The shared state of the watch service's parts (one per service)."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        chat: Chat,
        check_function: CheckFunction,
        clock: Callable[[], datetime],
        role: Role,
        max_in_flight: int,
    ) -> None:
        self.store, self.settings, self.chat, self.clock = store, settings, chat, clock
        self.check_function = check_function
        self.role = role
        self.light = replace(settings.check, samples=1)
        self.watches: dict[int, WatchInfo] = {}
        self.scheduler = Scheduler(self._due, max_in_flight=max_in_flight)
        self.incidents = Incidents(store, chat, clock, settings.escalation)
        self.write_behind = WriteBehind(store, self.watches)
        self._locks: dict[int, asyncio.Lock] = {}
        self.run: Callable[[int], Awaitable[None]] | None = None  # the check runner's
        self.changed: Callable[[str], None] = lambda _team: None  # Home's: a team's tab is stale

    async def _due(self, watch_id: int) -> None:
        if self.run is not None:
            await self.run(watch_id)

    def lock(self, watch_id: int) -> asyncio.Lock:
        """A watch's lock: its check, its buttons and its alarms never interleave."""
        return self._locks.setdefault(watch_id, asyncio.Lock())

    async def info(self, watch_id: int) -> WatchInfo | None:
        """The watch as this replica runs it, or as the database holds it (run elsewhere)."""
        if self.role.runs(watch_id):
            return self.watches.get(watch_id)
        try:
            row = await self.store.watch(watch_id)
        except (ValueError, TypeError, OverflowError):
            return None
        if row is None or unusable(row) is not None:
            return None
        return watch_info(row)

    def forget(self, watch_id: int) -> None:
        """No longer run here: its job, its memory and its writes not yet made."""
        self.scheduler.remove(watch_id)
        self.watches.pop(watch_id, None)
        self.write_behind.forget(watch_id)

    async def remove(self, watch_id: int) -> None:
        """Delete the watch (its open incident withdrawn from the escalation providers)."""
        info = self.watches.get(watch_id)
        if info is not None and info.memory.state == "down":
            # An escalated incident must not stay triggered in PagerDuty once nobody watches.
            incident = await self.store.open_incident(watch_id)
            if incident is not None:
                await self.incidents.withdrawn(info, incident)
        self.forget(watch_id)
        self.write_behind.drop_history(watch_id)
        await self.store.delete_watch(watch_id)
        await self.role.tell("unwatch", watch_id)


async def say_not_watched(chat: Chat, channel: str, user: str, target: Target) -> None:
    """The one answer for a command about a site this channel does not watch."""
    await chat.ephemeral(channel, user, notes.not_watched(target.url))
