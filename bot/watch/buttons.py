"""The buttons of a watch alert: Acknowledge, Mute 1h, Re-check now, Unwatch.

A button value is text anyone can forge: each acts only on a watch of the workspace
and channel it was pressed in, and on an incident of that watch, under the watch's
lock (never in the middle of its check).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from bot.chat import Chat
from bot.render import alerts
from bot.render import watch_notes as notes
from bot.render.slack import button_data
from bot.watch.core import Watched, row_id
from bot.watch.model import WatchInfo
from bot.watch.mutes import Mutes
from bot.watch.records import IncidentRecord, IncidentUpdate
from bot.watch.runner import CheckRunner

log = logging.getLogger(__name__)

MUTE = timedelta(hours=1)


@dataclass(frozen=True)
class Press:
    """Who pressed a button, and in which workspace and channel (as Slack signed it)."""

    team: str
    channel: str
    user: str


class AlertButtons:
    def __init__(self, core: Watched, runner: CheckRunner, mutes: Mutes) -> None:
        self.core, self.runner, self.mutes = core, runner, mutes

    async def acknowledge(self, chat: Chat, press: Press, value: str) -> None:
        await self._on_alert(
            chat, press, value, lambda info, incident: self._acknowledge(press.user, info, incident)
        )

    async def mute(self, chat: Chat, press: Press, value: str) -> None:
        await self._on_alert(
            chat, press, value, lambda info, incident: self._mute(press.user, info, incident)
        )

    async def recheck(self, chat: Chat, press: Press, value: str) -> None:
        info = await self._watch_of_button(press, value)
        if info is None:
            await self._refuse(chat, press, value)
            return
        if not self.core.role.runs(info.id):  # the replica that runs it checks it
            await self.core.role.tell("recheck", info.id)
            return
        await self.runner.run(info.id)

    async def unwatch(self, chat: Chat, press: Press, value: str) -> None:
        await self._on_alert(
            chat, press, value, lambda info, incident: self._unwatch(press.user, info, incident)
        )

    async def _on_alert(
        self,
        chat: Chat,
        press: Press,
        value: str,
        act: Callable[[WatchInfo, IncidentRecord], Awaitable[None]],
    ) -> None:
        info = await self._watch_of_button(press, value)
        if info is None:
            await self._refuse(chat, press, value)
            return
        async with self.core.lock(info.id):
            found = await self._from_button(value)
            if found is None or found[0].id != info.id or found[1].watch_id != info.id:
                await self._refuse(chat, press, value)
                return
            await act(*found)

    async def _watch_of_button(self, press: Press, value: str) -> WatchInfo | None:
        """The watch a button names, if it is one of the channel where it was pressed."""
        watch_id = row_id(button_data(value).get("w"))
        info = await self.core.info(watch_id) if watch_id is not None else None
        if info is None or info.team != press.team or info.channel != press.channel:
            return None
        return info

    async def _from_button(self, value: str) -> tuple[WatchInfo, IncidentRecord] | None:
        data = button_data(value)
        watch_id, incident_id = row_id(data.get("w")), row_id(data.get("i"))
        info = await self.core.info(watch_id) if watch_id is not None else None
        store = self.core.store
        incident = await store.incident(incident_id) if incident_id is not None else None
        if info is None or incident is None:
            return None
        return info, incident

    async def _refuse(self, chat: Chat, press: Press, value: str) -> None:
        log.warning(
            "refused a button of %s in %s/%s: no watch or incident of that channel (%.200r)",
            press.user,
            press.team,
            press.channel,
            value,
        )
        await chat.ephemeral(
            press.channel,
            press.user,
            notes.button_refused(),
        )

    async def _acknowledge(self, user: str, info: WatchInfo, incident: IncidentRecord) -> None:
        if incident.acknowledged_by:
            return
        incidents = self.core.incidents
        incident = await incidents.change(incident, IncidentUpdate(acknowledged_by=user))
        await incidents.acknowledged(info, incident)
        await incidents.edit(info, incident)
        await incidents.reply(
            info,
            incident,
            notes.acknowledged(user),
        )

    async def _mute(self, user: str, info: WatchInfo, incident: IncidentRecord) -> None:
        incidents = self.core.incidents
        until = self.core.clock() + MUTE
        await self.mutes.set(info, until, user, None)
        await incidents.edit(info, incident)
        await incidents.reply(info, incident, alerts.muted_note(user, until, None))

    async def _unwatch(self, user: str, info: WatchInfo, incident: IncidentRecord) -> None:
        await self.core.incidents.reply(
            info,
            incident,
            notes.stopped_watching(user, info.url),
        )
        await self.core.remove(info.id)
