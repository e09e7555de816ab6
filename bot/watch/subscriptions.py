"""Watch, unwatch, list: a channel's subscriptions, as the commands change and show them.

A new watch is written before Slack gets its ack (`store`: one transaction, no
network), then vetted, announced and scheduled after it (`confirm`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from bot.chat import Chat, NotInChannel
from bot.commands import Watch
from bot.render import alerts
from bot.render import watch_notes as notes
from bot.spec import WatchSpec
from bot.watch.core import Watched, say_not_watched
from bot.watch.model import future, unusable, watch_info
from bot.watch.records import StoreError, WatchRecord
from bot.watch.store import MAX_WATCHES_PER_CHANNEL
from checks.dns import resolve
from checks.guard import TargetRefused, vet_addresses, vet_name
from checks.models import Target

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 300.0
MAX_URL = 2000
DEFAULT_FAIL_AFTER = 2
VET_TIMEOUT = 5.0  # seconds for the lookup that vets a new watch's target


@dataclass(frozen=True)
class StoredWatch:
    """A watch written to the database but not yet announced (see `confirm`)."""

    row: WatchRecord
    created: bool
    user: str
    spec: WatchSpec  # its defaults filled in

    @property
    def target(self) -> Target:
        return self.spec.target


class Subscriptions:
    def __init__(self, core: Watched) -> None:
        self.core = core

    async def watch(self, chat: Chat, team: str, channel: str, user: str, command: Watch) -> None:
        """Store, then confirm: both steps at once (the Slack listener splits them by its ack)."""
        stored = await self.store(team, channel, user, command)
        if isinstance(stored, str):
            await chat.ephemeral(channel, user, alerts.note(stored))
            return
        await self.confirm(chat, stored)

    async def store(self, team: str, channel: str, user: str, command: Watch) -> StoredWatch | str:
        """Write the watch (before Slack gets its ack), or say in one line why not.

        Quick: one transaction, no network; so a crash right after the ack loses nothing.
        """
        settings = self.core.settings
        interval = command.interval or max(DEFAULT_INTERVAL, settings.min_interval)
        if interval < settings.min_interval:
            return notes.too_often(interval, settings.min_interval)
        if len(command.url) > MAX_URL:
            return notes.url_too_long(MAX_URL)
        spec = command.filled(interval, DEFAULT_FAIL_AFTER)
        try:
            row, created = await self.core.store.upsert_watch(
                team=team,
                channel=channel,
                spec=spec,
                created_by=user,
                now=self.core.clock(),
                recover_after=settings.recover_after,
                team_limit=settings.limits.team_max_watches,
            )
        except StoreError as exc:
            return notes.refused(str(exc))
        return StoredWatch(row, created, user, spec)

    async def confirm(self, chat: Chat, stored: StoredWatch) -> None:
        """After the ack: vet the target, then announce the watch and schedule it."""
        core = self.core
        row, user, target = stored.row, stored.user, stored.target
        refused = await self._vet(target)
        if refused is not None:  # never announced: it was never going to be watched
            log.warning("watch of %s in %s refused: %s", target.url, row.channel, refused)
            await core.store.delete_watch(row.id)
            await chat.ephemeral(row.channel, user, alerts.note(notes.refused(refused)))
            return
        try:
            await chat.post(row.channel, notes.announced(stored.user, stored.spec, stored.created))
        except NotInChannel:  # alerts could never be posted here: say so, keep nothing
            await core.store.delete_watch(row.id)
            await chat.respond(notes.cannot_post_here(), in_channel=False)
            return
        if not core.role.runs(row.id):  # the replica that runs it schedules it
            await core.role.tell("new" if stored.created else "watch", row.id)
            return
        info = core.watches.get(row.id) or watch_info(row)
        info.spec = stored.spec
        core.watches[row.id] = info
        core.scheduler.add(row.id, info.interval_s, first_in=0.5 if stored.created else None)
        core.changed(row.team)

    async def _vet(self, target: Target) -> str | None:
        """Why the SSRF guard refuses this target (its name or what it resolves to), or None.

        A name that does not resolve now is no reason to refuse: the site may be down.
        """
        options = self.core.settings.check
        if options.allow_private:
            return None
        try:
            vet_name(target.host, False)
            if target.is_ip:
                addresses: tuple[str, ...] = (target.host,)
            else:
                lifetime = min(options.timeout, VET_TIMEOUT)
                addresses = (await resolve(target.host, options.resolvers, lifetime)).addresses
            vet_addresses(target.host, addresses, False)
        except TargetRefused as exc:
            return str(exc)
        return None

    async def unwatch(self, chat: Chat, channel: str, user: str, target: Target) -> None:
        store = self.core.store
        try:
            row = await store.find_watch(channel, target.url)
            watch_id = row.id if row is not None else None
        except (ValueError, TypeError, OverflowError):  # a row that cannot be read: by its key
            keys = await store.watch_keys()
            watch_id = next((k[0] for k in keys if (k[1], k[2]) == (channel, target.url)), None)
        if watch_id is None:
            await say_not_watched(chat, channel, user, target)
            return
        await self.remove(watch_id)
        await self.core.incidents.say(
            chat,
            channel,
            notes.stopped_watching(user, target.url),
        )

    async def remove(self, watch_id: int) -> None:
        core = self.core
        info = core.watches.get(watch_id)
        async with core.lock(watch_id):  # not in the middle of its check
            await core.remove(watch_id)
        if info is not None:
            core.changed(info.team)

    async def list(self, chat: Chat, channel: str, user: str, rows: list[WatchRecord]) -> None:
        """The channel's watches, each with its state (the memory of the replica that runs
        it when that is this one, else the database's)."""
        core = self.core
        availability = await core.store.availability(
            [r.id for r in rows], core.clock() - timedelta(hours=24)
        )
        lines = []
        for row in rows:
            runs_here = core.role.runs(row.id)
            if (row.id not in core.watches or not runs_here) and unusable(row):
                after = row.fail_after if type(row.fail_after) is int else 0
                lines.append(alerts.WatchLine.unusable(row.url, after))
                continue
            info = (core.watches.get(row.id) if runs_here else None) or watch_info(row)
            lines.append(
                alerts.WatchLine(
                    url=row.url,
                    state=info.memory.state,
                    spec=info.spec,
                    last_checked_at=info.memory.last_checked_at,
                    availability=availability.get(row.id),
                    muted_until=future(info.muted_until, core.clock()),
                    muted_by=info.muted_by,
                    mute_reason=info.mute_reason,
                )
            )
        await chat.ephemeral(channel, user, alerts.watches_message(lines, MAX_WATCHES_PER_CHANNEL))
