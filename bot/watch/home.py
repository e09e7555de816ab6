"""App Home and the watch modal: what the watch service shows outside a channel.

The Home tab of everyone who opened it in a workspace is published again after
a change there (a watch added, edited or removed, an incident opened or closed,
a mute); changes within half a second are published once.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from bot.chat import Chat
from bot.commands import Mute
from bot.modal import Submission
from bot.render.home import HomeWatch, ModalValues, home_view, watch_modal
from bot.spec import WatchSpec
from bot.watch.mutes import Mutes
from bot.watch.query import WatchQuery
from bot.watch.runner import CheckRunner
from bot.watch.subscriptions import Subscriptions
from checks.models import Target
from checks.target import parse_target

log = logging.getLogger(__name__)

DEBOUNCE = 0.5
MUTE_FROM_HOME = timedelta(hours=1)


class Home:
    """Reads the watches through a query; acts through the same parts the commands use."""

    def __init__(
        self,
        chat: Chat,
        query: WatchQuery,
        subscriptions: Subscriptions,
        mutes: Mutes,
        runner: CheckRunner,
    ) -> None:
        self.chat, self.query = chat, query
        self.subscriptions, self.mutes, self.runner = subscriptions, mutes, runner
        self.viewers: dict[str, set[str]] = {}  # team -> people who opened the Home tab
        self._pending: dict[str, asyncio.Task[None]] = {}

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
                await self.chat.publish_home(user, view)
        except Exception:  # a Home tab left stale is no reason to disturb anything else
            self._pending.pop(team, None)
            log.exception("publishing the Home tabs of %s failed", team)

    async def stop(self) -> None:
        for task in list(self._pending.values()):
            task.cancel()
        await asyncio.gather(*self._pending.values(), return_exceptions=True)

    async def watches(self, team: str) -> list[HomeWatch]:
        return await self.query.home_watches(team)

    # --- the modal -----------------------------------------------------------------------

    async def open_modal(
        self,
        chat: Chat,
        trigger_id: str,
        team: str,
        watch_id: int | None = None,
        target: Target | None = None,
        channel: str | None = None,
    ) -> None:
        values = ModalValues(channel=channel, spec=WatchSpec(target) if target else None)
        info = await self.query.info(watch_id) if watch_id is not None else None
        if info is not None and info.team == team:
            values = ModalValues(watch_id=info.id, channel=info.channel, spec=info.spec)
        await chat.open_modal(trigger_id, watch_modal(values))

    async def submitted(self, chat: Chat, team: str, user: str, submission: Submission) -> None:
        """Create or edit the watch the modal describes (and mute it, if asked)."""
        old = await self.query.info(submission.watch_id) if submission.watch_id else None
        await self.subscriptions.watch(chat, team, submission.channel, user, submission.watch)
        found = await self.query.find(submission.channel, submission.watch.target.url)
        if found is None:
            return  # refused (too often, too many, not in the channel): already said why
        if old is not None and old.team == team and old.id != found:
            await self.subscriptions.remove(old.id)  # its site or channel changed: it makes way
        if submission.mute is not None:
            await self.mutes.mute_command(chat, submission.channel, user, submission.mute)

    async def mute(self, chat: Chat, team: str, user: str, watch_id: int) -> None:
        info = await self.query.info(watch_id)
        if info is None or info.team != team:
            return
        target = _target(info.url)
        await self.mutes.mute_command(
            chat, info.channel, user, Mute(target, MUTE_FROM_HOME, "muted from App Home")
        )

    async def unmute(self, chat: Chat, team: str, user: str, watch_id: int) -> None:
        info = await self.query.info(watch_id)
        if info is not None and info.team == team:
            await self.mutes.unmute_command(chat, info.channel, user, _target(info.url))

    async def recheck(self, team: str, watch_id: int) -> None:
        info = await self.query.info(watch_id)
        if info is not None and info.team == team:
            await self.runner.run(watch_id)
            self.changed(team)


def _target(url: str) -> Target:
    return parse_target(url)
