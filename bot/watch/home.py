"""App Home and the watch modal: what the watch service shows outside a channel.

The Home tab of everyone who opened it in a workspace is published again after
a change there (a watch added, edited or removed, an incident opened or closed,
a mute); changes within half a second are published once.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.chat import Chat
from bot.commands import Mute
from bot.modal import Submission
from bot.render.home import HomeWatch, ModalValues, home_view, watch_modal
from bot.watch.model import future, unusable, watch_info
from checks.models import Target
from checks.target import parse_target

if TYPE_CHECKING:
    from bot.watch.service import WatchService

log = logging.getLogger(__name__)

DEBOUNCE = 0.5
MUTE_FROM_HOME = timedelta(hours=1)


class Home:
    def __init__(self, service: WatchService) -> None:
        self.service = service
        self.viewers: dict[str, set[str]] = {}  # team -> people who opened the Home tab
        self._pending: dict[str, asyncio.Task] = {}

    async def opened(self, chat: Chat, team: str, user: str) -> None:
        self.viewers.setdefault(team, set()).add(user)
        await chat.publish_home(user, home_view(await self.watches(team)))

    def changed(self, team: str) -> None:
        """Publish this workspace's Home tabs again, soon (once for a burst of changes)."""
        if not self.viewers.get(team) or team in self._pending:
            return
        task = asyncio.get_running_loop().create_task(self._publish_soon(team))
        self._pending[team] = task

    async def _publish_soon(self, team: str) -> None:
        try:
            await asyncio.sleep(DEBOUNCE)
            del self._pending[team]
            view = home_view(await self.watches(team))
            for user in sorted(self.viewers.get(team, ())):
                await self.service.chat.publish_home(user, view)
        except Exception:  # a Home tab left stale is no reason to disturb anything else
            self._pending.pop(team, None)
            log.exception("publishing the Home tabs of %s failed", team)

    async def stop(self) -> None:
        for task in list(self._pending.values()):
            task.cancel()
        await asyncio.gather(*self._pending.values(), return_exceptions=True)

    async def watches(self, team: str) -> list[HomeWatch]:
        service, store = self.service, self.service.store
        now = service.clock()
        rows = [r for r in await store.watches() if r.team == team]
        ids = [r.id for r in rows]
        availability = await store.availability(ids, now - timedelta(hours=24))
        strips = await store.hourly_availability(ids, now)
        incidents = await store.open_incidents_of(ids)
        found = []
        for row in sorted(rows, key=lambda r: (r.channel, r.url)):
            info = service.watches.get(row.id)
            if info is None and not service.owns(row.id) and unusable(row) is None:
                info = watch_info(row)  # another replica checks it: the database's copy
            if info is None:
                continue
            incident = incidents.get(row.id) if info.memory.state == "down" else None
            found.append(
                HomeWatch(
                    id=row.id,
                    channel=row.channel,
                    url=row.url,
                    state=info.memory.state,
                    interval_s=info.interval_s,
                    last_checked_at=info.memory.last_checked_at,
                    availability=availability.get(row.id),
                    strip=strips.get(row.id, ()),
                    muted_until=future(info.muted_until, now),
                    muted_by=info.muted_by,
                    mute_reason=info.mute_reason,
                    incident_summary=incident.last_summary if incident else None,
                    incident_since=incident.failing_since if incident else None,
                    expect=info.expect.describe(),
                    notify=info.notify,
                )
            )
        return found

    # --- the modal -----------------------------------------------------------------------

    async def open_modal(
        self,
        chat: Chat,
        trigger_id: str,
        team: str,
        watch_id: int | None = None,
        url: str = "",
        channel: str | None = None,
    ) -> None:
        values = ModalValues(url=url, channel=channel)
        info = await self.service._info(watch_id) if watch_id is not None else None
        if info is not None and info.team == team:
            values = ModalValues(
                watch_id=info.id,
                url=info.url,
                channel=info.channel,
                every=_every(info.interval_s),
                after=info.fail_after,
                expect=info.expect.describe(),
                notify_people=tuple(i for i in info.notify if not i.startswith("S")),
                notify_groups=tuple(i for i in info.notify if i.startswith("S")),
            )
        await chat.open_modal(trigger_id, watch_modal(values))

    async def submitted(self, chat: Chat, team: str, user: str, submission: Submission) -> None:
        """Create or edit the watch the modal describes (and mute it, if asked)."""
        service = self.service
        old = await service._info(submission.watch_id) if submission.watch_id else None
        await service.watch(chat, team, submission.channel, user, submission.watch)
        row = await service.store.find_watch(submission.channel, submission.watch.target.url)
        if row is None:
            return  # refused (too often, too many, not in the channel): already said why
        moved = old is not None and old.team == team and old.id != row.id
        if moved:  # the edit changed its site or channel: the old watch makes way
            await service.remove_watch(old.id)
        if submission.mute is not None:
            await service.mute_command(chat, submission.channel, user, submission.mute)

    async def mute(self, chat: Chat, team: str, user: str, watch_id: int) -> None:
        info = await self.service._info(watch_id)
        if info is None or info.team != team:
            return
        target = _target(info.url)
        await self.service.mute_command(
            chat, info.channel, user, Mute(target, MUTE_FROM_HOME, "muted from App Home")
        )

    async def unmute(self, chat: Chat, team: str, user: str, watch_id: int) -> None:
        info = await self.service._info(watch_id)
        if info is not None and info.team == team:
            await self.service.unmute_command(chat, info.channel, user, _target(info.url))

    async def recheck(self, team: str, watch_id: int) -> None:
        info = await self.service._info(watch_id)
        if info is not None and info.team == team:
            await self.service.run(watch_id)
            self.changed(team)


def _target(url: str) -> Target:
    return parse_target(url)


def _every(seconds: float) -> str:
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
