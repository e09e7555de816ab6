"""Mute windows: planned work. Checks go on; alerts wait for the end of the window, and
a watch still failing then opens its alert at once."""

from __future__ import annotations

import asyncio
from datetime import datetime

from bot.chat import Chat
from bot.commands import Mute
from bot.render import alerts
from bot.render import watch_notes as notes
from bot.watch.core import Watched, say_not_watched
from bot.watch.model import WatchInfo
from bot.watch.records import WatchUpdate
from bot.watch.runner import CheckRunner
from checks.models import Target


class Mutes:
    def __init__(self, core: Watched, runner: CheckRunner) -> None:
        self.core = core
        self.runner = runner
        self.wake = asyncio.Event()  # the alarm clock re-plans when a mute changes

    async def set(
        self, info: WatchInfo, until: datetime | None, user: str | None, reason: str | None
    ) -> None:
        core = self.core
        info.muted_until, info.muted_by, info.mute_reason = until, user, reason
        self.wake.set()
        core.changed(info.team)
        await core.store.update_watch(
            info.id, WatchUpdate(muted_until=until, muted_by=user, mute_reason=reason)
        )
        await core.role.tell("watch", info.id)  # the copy of the replica that runs it learns it

    async def mute_command(self, chat: Chat, channel: str, user: str, command: Mute) -> None:
        core = self.core
        info = await self._watched(chat, channel, user, command.target)
        if info is None:
            return
        async with core.lock(info.id):
            until = core.clock() + command.span
            await self.set(info, until, user, command.reason or None)
            incident = await core.store.open_incident(info.id)
            if incident is not None and incident.alert_ts:
                await core.incidents.edit(info, incident)
                await core.incidents.reply(
                    info, incident, alerts.muted_note(user, until, command.reason)
                )
        said = notes.muted(user, info.url, command.span, until, command.reason or None)
        await core.incidents.say(chat, channel, said)

    async def unmute_command(self, chat: Chat, channel: str, user: str, target: Target) -> None:
        core = self.core
        info = await self._watched(chat, channel, user, target)
        if info is None:
            return
        if info.muted_until is None:
            await chat.ephemeral(channel, user, notes.not_muted(info.url))
            return
        await core.incidents.say(chat, channel, notes.unmuted(user, info.url))
        async with core.lock(info.id):
            await self.end(info)

    async def _watched(
        self, chat: Chat, channel: str, user: str, target: Target
    ) -> WatchInfo | None:
        row = await self.core.store.find_watch(channel, target.url)
        info = await self.core.info(row.id) if row is not None else None
        if info is None:
            await say_not_watched(chat, channel, user, target)
        return info

    async def end(self, info: WatchInfo) -> None:
        """The window is over (or was ended): held alerts open now if the site still fails."""
        core = self.core
        await self.set(info, None, None, None)
        incident = await core.store.open_incident(info.id)
        if incident is None or info.memory.state != "down":
            return
        if incident.alert_ts:
            await core.incidents.edit(info, incident)
            return
        if core.role.runs(info.id):  # elsewhere the runner's next check opens it, unmuted now
            await self.runner.check(info)  # a fresh check: still failing = the alert, now
