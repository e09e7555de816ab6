"""Watches: subscribe a channel, check on a schedule, alert quietly, announce recovery.

The flow of one scheduled check: run a light check (one sample); feed the
result to the pure state machine (bot/watch/state.py); hand its event to
bot/watch/incidents.py, which posts, edits and replies. A full re-check
confirms before an alert opens, and the bot checks its own network first.
Check history and counters are written behind, in batches, once a second.
With several replicas on PostgreSQL each checks the watches of the shards it
holds (bot/watch/fleet.py); every replica takes commands and tells the holder.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from bot import logs, metrics
from bot.alert_syntax import mentions
from bot.chat import Chat, NotInChannel
from bot.commands import Mute, Watch
from bot.render import alerts
from bot.render.slack import button_data
from bot.settings import Settings
from bot.watch.fleet import RESYNC, PostgresFleet, Solo
from bot.watch.home import Home
from bot.watch.incidents import Incidents
from bot.watch.model import WatchInfo, future, unusable, watch_info
from bot.watch.scheduler import Scheduler
from bot.watch.selfcheck import NETWORK_CAUSES, SelfCheck
from bot.watch.shards import shard_of
from bot.watch.state import (
    Event,
    Incident,
    Outcome,
    Policy,
    Timers,
    alarms,
    diagnosis_key,
    step,
)
from bot.watch.store import (
    MAX_WATCHES_PER_CHANNEL,
    CheckRecord,
    IncidentRow,
    Store,
    StoreError,
    WatchRow,
)
from checks.diagnose import Diagnosis
from checks.dns import resolve
from checks.expect import Expectations
from checks.guard import TargetRefused, vet_addresses, vet_name
from checks.models import Progress, Target
from checks.run import CheckFunction, check
from checks.target import TargetError, parse_target

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 300.0
MAX_URL = 2000
DEFAULT_FAIL_AFTER = 2
CERT_WARNING_DAYS = 14
MUTE = timedelta(hours=1)
FLUSH_EVERY = 1.0
OVERDUE_SPREAD = 5.0  # seconds over which watches found overdue at start are first checked
VET_TIMEOUT = 5.0  # seconds for the lookup that vets a new watch's target


def _ignore(_: Progress) -> None:
    return None


def _row_id(value: object) -> int | None:
    """A database id from a button's value: a plain int in the range a row id can have."""
    return value if type(value) is int and 0 < value < 2**63 else None


@dataclass(frozen=True)
class Press:
    """Who pressed a button, and in which workspace and channel (as Slack signed it)."""

    team: str
    channel: str
    user: str


@dataclass(frozen=True)
class StoredWatch:
    """A watch written to the database but not yet announced (see `confirm_watch`)."""

    row: WatchRow
    created: bool
    user: str
    target: Target
    interval: float
    fail_after: int
    notify: tuple[str, ...] = ()
    expect: Expectations = field(default_factory=Expectations)


class WatchService:
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
        self.store = store
        self.fleet = fleet or Solo()
        self.settings = settings
        self.chat = chat
        self.check_function = check_function or check
        self.clock = clock
        self.light = replace(settings.check, samples=1)
        self.watches: dict[int, WatchInfo] = {}
        self.scheduler = Scheduler(self.run, max_in_flight=max_in_flight)
        self.selfcheck = SelfCheck(
            settings.check.resolvers, self._canary_check() if settings.canary else None
        )
        self._locks: dict[int, asyncio.Lock] = {}
        self._history: list[CheckRecord] = []
        self._pending: dict[int, dict] = {}
        self._trouble_told: set[str] = set()
        self._flusher: asyncio.Task | None = None
        self.incidents = Incidents(store, chat, clock, settings.escalation)
        self._writes: set[asyncio.Task] = set()
        self._background: set[asyncio.Task] = set()
        self._flush_failed = False
        escalation = settings.escalation
        self.policy = Policy(
            remind_every=_span(escalation.remind_every),
            escalate_after=_span(escalation.escalate_after),
        )
        self._alarm_clock: asyncio.Task | None = None
        self._alarm_wake = asyncio.Event()
        self.home = Home(self)
        self._resynced = clock()

    # --- life cycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Open the database, start the clock, and join the fleet (alone with SQLite)."""
        await self.store.open()
        self.scheduler.start()
        await self.incidents.escalations.start()
        self._flusher = asyncio.get_running_loop().create_task(self._flush_forever())
        # Every replica runs the clock, over the watches it holds (see `sweep`).
        self._alarm_clock = asyncio.get_running_loop().create_task(self._alarms_forever())
        await self.fleet.start(self)

    @property
    def leading(self) -> bool:
        """Whether this replica does the fleet's chores (pruning the history)."""
        return self.fleet.leading

    def owns(self, watch_id: int) -> bool:
        """Whether this replica checks the watch (holds its shard): its checks, alarms and
        buttons act on the memory here; elsewhere the database's copy is read."""
        return self.fleet.owns(watch_id)

    async def shards_changed(
        self, gained: frozenset[int], lost: frozenset[int], handing_over: bool
    ) -> None:
        """The fleet moved shards (bot/watch/fleet.py): let go of the watches of `lost`,
        then schedule those of `gained` from the watches table."""
        if lost:
            await self._let_go(lost, handing_over)
        if gained:
            await self._take(gained)
        metrics.LEADER.set(1 if self.leading else 0)

    async def _take(self, shards: frozenset[int]) -> None:
        """Rebuild these shards' jobs from the watches table, and finish what a crash (of
        this process or of the last holder) left half done."""
        skipped: list[tuple[Any, str]] = []
        adopted = []
        for row in await self._rows(skipped):
            if shard_of(row.id) not in shards:
                continue
            problem = self._adopt(row)
            if problem is not None:
                log.warning(
                    "skipping watch %s of %s in %s: %s", row.id, row.url, row.channel, problem
                )
                skipped.append((row, problem))
            else:
                adopted.append(row.id)
        skipped = [(row, why) for row, why in skipped if shard_of(row.id) in shards]
        await self._reconcile(set(adopted))
        self._resynced = self.clock()
        if skipped:
            task = asyncio.get_running_loop().create_task(self._tell_skipped(skipped))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        log.info("watching %d sites (%d more)", len(self.watches), len(adopted))

    async def _let_go(self, shards: frozenset[int], handing_over: bool) -> None:
        """Stop these shards' watches. Handing over: after their running checks, with their
        memory written (the next holder schedules from last_checked_at). Otherwise another
        replica may hold them already: forget them, and their writes not yet made."""
        leaving = [w for w in self.watches if shard_of(w) in shards]
        for watch_id in leaving:
            self.scheduler.remove(watch_id)
        if handing_over:
            for watch_id in leaving:
                async with self._lock(watch_id):  # not in the middle of its check
                    pass
            with contextlib.suppress(SQLAlchemyError, OSError):
                await self.flush()
        for watch_id in leaving:
            self._forget(watch_id)
        self._history = [r for r in self._history if shard_of(r.watch_id) not in shards]

    async def changed(self, what: str, watch_id: int) -> None:
        """Another replica changed a watch (bot/watch/fleet.py's NOTIFY); its holder acts."""
        if not self.owns(watch_id):
            return
        if what == "recheck":
            if watch_id in self.watches:
                await self.run(watch_id)
            return
        async with self._lock(watch_id):
            try:
                row = await self.store.watch(watch_id)
            except (ValueError, TypeError, OverflowError):
                row = None
            if row is None:
                self._forget(watch_id)
                return
            if self._adopt(row, first_in=0.5 if what == "new" else None) is not None:
                self._forget(watch_id)

    def _adopt(self, row: WatchRow, first_in: float | None = None) -> str | None:
        """Schedule a watch read from the database, keeping the memory of one known here;
        why it cannot be run, if it cannot (then it is left alone)."""
        problem = unusable(row)
        if problem is not None:
            return problem
        if not self.owns(row.id):  # its shard moved on while the row was read
            return None
        known = self.watches.get(row.id)
        try:
            fresh = watch_info(row)
            if known is None:
                self.scheduler.add(
                    row.id, fresh.interval_s, first_in=first_in or self._first_in(fresh)
                )
                self.watches[row.id] = fresh
                return None
            # Known here: take the settings in place (a running check holds this object)
            # and keep the memory, which is ahead of the write-behind.
            if known.interval_s != fresh.interval_s or first_in is not None:
                self.scheduler.add(row.id, fresh.interval_s, first_in=first_in)
        except (ValueError, TypeError, OverflowError) as exc:
            return f"it cannot be scheduled ({type(exc).__name__})"
        for item in fields(WatchInfo):
            if item.name != "memory":
                setattr(known, item.name, getattr(fresh, item.name))
        return None

    def _forget(self, watch_id: int) -> None:
        self.scheduler.remove(watch_id)
        self.watches.pop(watch_id, None)
        self._pending.pop(watch_id, None)

    async def _resync(self) -> None:
        """Re-read the watches table: a lost NOTIFY costs RESYNC seconds at most."""
        rows = [row for row in await self._rows() if self.owns(row.id)]
        for row in rows:
            if self._adopt(row) is not None:
                self._forget(row.id)
        ids = {row.id for row in rows}
        for watch_id in [w for w in self.watches if w not in ids]:
            self._forget(watch_id)

    async def _reconcile(self, adopted: set[int]) -> None:
        """What a crash may have left half done: an open incident behind a watch whose
        state was not yet written "down", an alert posted without its ts being stored."""
        for incident in await self.store.open_incidents():
            info = self.watches.get(incident.watch_id)
            if info is None or incident.watch_id not in adopted:
                continue
            if info.memory.state != "down":
                info.memory = replace(
                    info.memory,
                    state="down",
                    failures=max(info.memory.failures, info.fail_after),
                    successes=0,
                    failing_since=info.memory.failing_since or incident.failing_since,
                )
                await self.store.save_watch_state(
                    info.id, state="down", failing_since=info.memory.failing_since
                )
            await self.incidents.reconcile(info, incident)

    async def _rows(self, skipped: list[tuple[Any, str]] | None = None) -> list[WatchRow]:
        """Every watch row; when one cannot even be read (a date that is not a date),
        the others one by one, so that one row never stops the bot."""
        try:
            return await self.store.watches()
        except (ValueError, TypeError, OverflowError):
            if skipped is not None:  # at start-up; said once, not at every listing
                log.warning("a watch row cannot be read; reading them one by one")
        rows = []
        for watch_id, channel, url, told in await self.store.watch_keys():
            try:
                row = await self.store.watch(watch_id)
            except (ValueError, TypeError, OverflowError) as exc:
                if skipped is not None:
                    problem = f"its stored data cannot be read ({type(exc).__name__})"
                    log.warning(
                        "skipping watch %s of %s in %s: %s", watch_id, url, channel, problem
                    )
                    keys = SimpleNamespace(
                        id=watch_id, channel=channel, url=url, unusable_reported=told
                    )
                    skipped.append((keys, problem))
                continue
            if row is not None:
                rows.append(row)
        return rows

    async def _tell_skipped(self, skipped: list[tuple[Any, str]]) -> None:
        """Say in its channel, once (the row remembers it was told), why a watch is not run."""
        for row, problem in skipped:
            if row.unusable_reported:
                continue
            url = alerts.escape(row.url)
            fix = (
                f"`/gateway unwatch {url}` removes it."
                if isinstance(row, SimpleNamespace)  # unreadable: only removing helps
                else f"`/gateway watch {url} every 5m` sets it right, "
                f"`/gateway unwatch {url}` removes it."
            )
            try:
                await self.incidents.say(
                    self.chat,
                    row.channel,
                    alerts.note(f":warning: I am not running the watch of {url}: {problem}. {fix}"),
                )
                await self.store.save_watch_state(row.id, unusable_reported=True)
            except Exception:  # Slack or the database away: said again at the next start
                log.exception("could not tell %s about the skipped watch %s", row.channel, row.id)

    async def stop(self) -> None:
        """Finish the running checks and write them down, then let the others take over."""
        await self.home.stop()
        if self._alarm_clock:
            self._alarm_clock.cancel()
            await asyncio.gather(self._alarm_clock, return_exceptions=True)
        await self.scheduler.stop()
        if self._background:
            await asyncio.wait(set(self._background), timeout=5)
        if self._flusher:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
        await self.incidents.escalations.stop()
        await self.flush()
        await self.fleet.stop()
        await self.store.close()

    def _first_in(self, info: WatchInfo) -> float | None:
        """When a watch first runs after a start-up: overdue ones soon, but spread out.

        None lets the scheduler spread it over its interval. A restart must not
        become a thundering herd of every watch at once.
        """
        last = info.memory.last_checked_at
        if last is None:
            return None
        due_in = info.interval_s - (self.clock() - last).total_seconds()
        if due_in <= 0:  # soon (a takeover must check every watch within 15 s), spread out
            return random.uniform(0.5, min(info.interval_s, OVERDUE_SPREAD))
        return due_in + random.uniform(0, min(info.interval_s * 0.1, 1.0))

    # --- commands --------------------------------------------------------------------------

    async def watch(self, chat: Chat, team: str, channel: str, user: str, command: Watch) -> None:
        """Store, then confirm: both steps at once (the Slack listener splits them by its ack)."""
        stored = await self.store_watch(team, channel, user, command)
        if isinstance(stored, str):
            await chat.ephemeral(channel, user, alerts.note(stored))
            return
        await self.confirm_watch(chat, stored)

    async def store_watch(
        self, team: str, channel: str, user: str, command: Watch
    ) -> StoredWatch | str:
        """Write the watch (before Slack gets its ack), or say in one line why not.

        Quick: one transaction, no network; so a crash right after the ack loses nothing.
        """
        interval = command.interval or max(DEFAULT_INTERVAL, self.settings.min_interval)
        if interval < self.settings.min_interval:
            return (
                f"Checks every {alerts.duration(timedelta(seconds=interval))} are too often: "
                f"the shortest interval here is "
                f"{alerts.duration(timedelta(seconds=self.settings.min_interval))}."
            )
        fail_after = command.after or DEFAULT_FAIL_AFTER
        target = command.target
        if len(target.url) > MAX_URL:
            return f"URLs longer than {MAX_URL} characters cannot be watched."
        try:
            row, created = await self.store.upsert_watch(
                team=team,
                channel=channel,
                url=target.url,
                target_input=target.input,
                interval_s=interval,
                fail_after=fail_after,
                created_by=user,
                now=self.clock(),
                recover_after=self.settings.recover_after,
                team_limit=self.settings.limits.team_max_watches,
                notify=" ".join(command.notify) or None,
                expectations=json.dumps(command.expect.to_dict()) if command.expect.any else None,
            )
        except StoreError as exc:
            return f":no_entry: {exc}"
        return StoredWatch(
            row, created, user, target, interval, fail_after, command.notify, command.expect
        )

    async def confirm_watch(self, chat: Chat, stored: StoredWatch) -> None:
        """After the ack: vet the target, then announce the watch and schedule it."""
        row, user, target = stored.row, stored.user, stored.target
        refused = await self._vet(target)
        if refused is not None:  # never announced: it was never going to be watched
            log.warning("watch of %s in %s refused: %s", target.url, row.channel, refused)
            await self.store.delete_watch(row.id)
            await chat.ephemeral(
                row.channel, user, alerts.note(f":no_entry: {alerts.escape(refused)}")
            )
            return
        interval, fail_after = stored.interval, stored.fail_after
        every = alerts.duration(timedelta(seconds=interval))
        verb = "is now watching" if stored.created else "changed the watch of"
        text = (
            f":eyes: <@{user}> {verb} {alerts.escape(target.url)}: a check every {every}; "
            f"an alert here after {fail_after} failed check{'s' if fail_after != 1 else ''}, "
            "and the recovery in its thread."
        )
        if stored.expect.any:
            text += f" A failure also means: {alerts.escape(_failing_words(stored.expect))}."
        if stored.notify:
            text += f" Alerts notify {mentions(stored.notify)}."
        try:
            await chat.post(row.channel, alerts.note(text))
        except NotInChannel:  # alerts could never be posted here: say so, keep nothing
            await self.store.delete_watch(row.id)
            await chat.respond(
                alerts.note(
                    ":no_entry: I can't post in this channel, so I couldn't alert here. Invite me "
                    "with `/invite @gateway`, then watch again."
                ),
                in_channel=False,
            )
            return
        if not self.owns(row.id):  # the holder of its shard schedules it
            await self.fleet.notify("new" if stored.created else "watch", row.id)
            return
        info = self.watches.get(row.id) or watch_info(row)
        info.interval_s, info.fail_after = interval, fail_after
        info.notify, info.expect = stored.notify, stored.expect
        self.watches[row.id] = info
        self.scheduler.add(row.id, interval, first_in=0.5 if stored.created else None)
        self.home.changed(row.team)

    async def _vet(self, target: Target) -> str | None:
        """Why the SSRF guard refuses this target (its name or what it resolves to), or None.

        A name that does not resolve now is no reason to refuse: the site may be down.
        """
        options = self.settings.check
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
        try:
            row = await self.store.find_watch(channel, target.url)
            watch_id = row.id if row is not None else None
        except (ValueError, TypeError, OverflowError):  # a row that cannot be read: by its key
            keys = await self.store.watch_keys()
            watch_id = next((k[0] for k in keys if (k[1], k[2]) == (channel, target.url)), None)
        if watch_id is None:
            await _say_not_watched(chat, channel, user, target)
            return
        await self.remove_watch(watch_id)
        await self.incidents.say(
            chat,
            channel,
            alerts.note(f":wave: <@{user}> stopped watching {alerts.escape(target.url)}."),
        )

    async def remove_watch(self, watch_id: int) -> None:
        info = self.watches.get(watch_id)
        async with self._lock(watch_id):  # not in the middle of its check
            await self._remove(watch_id)
        if info is not None:
            self.home.changed(info.team)

    async def list_watches(self, chat: Chat, channel: str, user: str) -> None:
        try:
            rows = await self.store.watches(channel)
        except (ValueError, TypeError, OverflowError):  # a row that cannot be read
            rows = [row for row in await self._rows() if row.channel == channel]
        availability = await self.store.availability(
            [r.id for r in rows], self.clock() - timedelta(hours=24)
        )
        lines = []
        for row in rows:
            if (row.id not in self.watches or not self.owns(row.id)) and unusable(row):
                lines.append(
                    alerts.WatchLine(
                        url=row.url,
                        state="not running (unusable settings)",
                        interval_s=0.0,
                        fail_after=row.fail_after if type(row.fail_after) is int else 0,
                        last_checked_at=None,
                        availability=None,
                    )
                )
                continue
            info = (self.watches.get(row.id) if self.owns(row.id) else None) or watch_info(row)
            lines.append(
                alerts.WatchLine(
                    url=row.url,
                    state=info.memory.state,
                    interval_s=info.interval_s,
                    fail_after=info.fail_after,
                    last_checked_at=info.memory.last_checked_at,
                    availability=availability.get(row.id),
                    muted_until=future(info.muted_until, self.clock()),
                    muted_by=info.muted_by,
                    mute_reason=info.mute_reason,
                    expect=info.expect.describe(),
                    notify=info.notify,
                )
            )
        await chat.ephemeral(channel, user, alerts.watches_message(lines, MAX_WATCHES_PER_CHANNEL))

    # --- alert buttons ----------------------------------------------------------------------

    def _lock(self, watch_id: int) -> asyncio.Lock:
        return self._locks.setdefault(watch_id, asyncio.Lock())

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
            await self._refuse_button(chat, press, value)
            return
        if not self.owns(info.id):  # the holder of its shard checks it
            await self.fleet.notify("recheck", info.id)
            return
        await self.run(info.id)

    async def unwatch_button(self, chat: Chat, press: Press, value: str) -> None:
        await self._on_alert(
            chat, press, value, lambda info, incident: self._unwatch(press.user, info, incident)
        )

    async def _on_alert(
        self,
        chat: Chat,
        press: Press,
        value: str,
        act: Callable[[WatchInfo, IncidentRow], Awaitable[None]],
    ) -> None:
        """A button of an alert: under the watch's lock, so never in the middle of its check.

        Only for the watch's own workspace and channel, and an incident of that watch:
        a button value is text anyone can forge.
        """
        info = await self._watch_of_button(press, value)
        if info is None:
            await self._refuse_button(chat, press, value)
            return
        async with self._lock(info.id):
            found = await self._from_button(value)
            if found is None or found[0].id != info.id or found[1].watch_id != info.id:
                await self._refuse_button(chat, press, value)
                return
            await act(*found)

    async def _watch_of_button(self, press: Press, value: str) -> WatchInfo | None:
        """The watch a button names, if it is one of the channel where it was pressed."""
        watch_id = _row_id(button_data(value).get("w"))
        info = await self._info(watch_id) if watch_id is not None else None
        if info is None or info.team != press.team or info.channel != press.channel:
            return None
        return info

    async def _refuse_button(self, chat: Chat, press: Press, value: str) -> None:
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
            alerts.note(
                ":no_entry: That button does not belong to a watch of this channel "
                "(or its watch is gone); `/gateway watches` lists what this channel watches."
            ),
        )

    async def _acknowledge(self, user: str, info: WatchInfo, incident: IncidentRow) -> None:
        if incident.acknowledged_by:
            return
        await self.store.save_incident(incident.id, acknowledged_by=user)
        incident.acknowledged_by = user
        await self.incidents.acknowledged(info, incident)
        await self.incidents.edit(info, incident)
        await self.incidents.reply(
            info,
            incident,
            alerts.note(
                f":eyes: <@{user}> acknowledged. I keep checking quietly and will say here when "
                "it recovers."
            ),
        )

    async def _mute(self, user: str, info: WatchInfo, incident: IncidentRow) -> None:
        await self._set_mute(info, self.clock() + MUTE, user, None)
        await self.incidents.edit(info, incident)
        await self.incidents.reply(info, incident, alerts.muted_note(user, info.muted_until, None))

    async def _set_mute(
        self, info: WatchInfo, until: datetime | None, user: str | None, reason: str | None
    ) -> None:
        info.muted_until, info.muted_by, info.mute_reason = until, user, reason
        self._alarm_wake.set()
        self.home.changed(info.team)
        await self.store.save_watch_state(
            info.id, muted_until=until, muted_by=user, mute_reason=reason
        )
        await self.fleet.notify("watch", info.id)  # the holder's copy learns it

    # --- mute / unmute: planned work ------------------------------------------------------

    async def mute_command(self, chat: Chat, channel: str, user: str, command: Mute) -> None:
        info = await self._watched(chat, channel, user, command.target)
        if info is None:
            return
        async with self._lock(info.id):
            until = self.clock() + command.span
            await self._set_mute(info, until, user, command.reason or None)
            incident = await self.store.open_incident(info.id)
            if incident is not None and incident.alert_ts:
                await self.incidents.edit(info, incident)
                await self.incidents.reply(
                    info, incident, alerts.muted_note(user, until, command.reason)
                )
        text = (
            f":mute: <@{user}> muted {alerts.escape(info.url)} for "
            f"{alerts.duration(command.span)}, until {alerts.slack_date(until)}"
            + (f": {alerts.escape(command.reason)}" if command.reason else "")
            + ". Checks go on; if it still fails when the window ends, the alert opens then."
        )
        await self.incidents.say(chat, channel, alerts.note(text))

    async def unmute_command(self, chat: Chat, channel: str, user: str, target: Target) -> None:
        info = await self._watched(chat, channel, user, target)
        if info is None:
            return
        if info.muted_until is None:
            await chat.ephemeral(
                channel, user, alerts.note(f"{alerts.escape(info.url)} is not muted.")
            )
            return
        await self.incidents.say(
            chat,
            channel,
            alerts.note(f":bell: <@{user}> unmuted {alerts.escape(info.url)}; alerts resume."),
        )
        async with self._lock(info.id):
            await self._end_mute(info)

    async def _watched(
        self, chat: Chat, channel: str, user: str, target: Target
    ) -> WatchInfo | None:
        row = await self.store.find_watch(channel, target.url)
        info = await self._info(row.id) if row is not None else None
        if info is None:
            await _say_not_watched(chat, channel, user, target)
        return info

    async def _end_mute(self, info: WatchInfo) -> None:
        """The window is over (or was ended): held alerts open now if the site still fails."""
        await self._set_mute(info, None, None, None)
        incident = await self.store.open_incident(info.id)
        if incident is None or info.memory.state != "down":
            return
        if incident.alert_ts:
            await self.incidents.edit(info, incident)
            return
        if self.owns(info.id):  # elsewhere the holder's next check opens it, unmuted now
            await self._run(info)  # a fresh check: still failing = the alert, now

    async def _unwatch(self, user: str, info: WatchInfo, incident: IncidentRow) -> None:
        await self.incidents.reply(
            info,
            incident,
            alerts.note(f":wave: <@{user}> stopped watching {alerts.escape(info.url)}."),
        )
        await self._remove(info.id)

    async def _from_button(self, value: str) -> tuple[WatchInfo, IncidentRow] | None:
        data = button_data(value)
        watch_id, incident_id = _row_id(data.get("w")), _row_id(data.get("i"))
        info = await self._info(watch_id) if watch_id is not None else None
        incident = await self.store.incident(incident_id) if incident_id is not None else None
        if info is None or incident is None:
            return None
        return info, incident

    async def _info(self, watch_id: int) -> WatchInfo | None:
        """The watch as its holder knows it, or as the database does (on any other replica)."""
        if self.owns(watch_id):
            return self.watches.get(watch_id)
        try:
            row = await self.store.watch(watch_id)
        except (ValueError, TypeError, OverflowError):
            return None
        if row is None or unusable(row) is not None:
            return None
        return watch_info(row)

    async def _remove(self, watch_id: int) -> None:
        info = self.watches.get(watch_id)
        if info is not None and info.memory.state == "down":
            # An escalated incident must not stay triggered in PagerDuty once nobody watches.
            incident = await self.store.open_incident(watch_id)
            if incident is not None:
                await self.incidents.withdrawn(info, incident)
        self._forget(watch_id)
        self._history = [r for r in self._history if r.watch_id != watch_id]
        await self.store.delete_watch(watch_id)
        await self.fleet.notify("unwatch", watch_id)

    # --- one scheduled check -----------------------------------------------------------

    async def run(self, watch_id: int) -> None:
        """Check one watch and act on what changed; never raises for a site's trouble."""
        async with self._lock(watch_id):
            info = self.watches.get(watch_id)
            if info is None or not self.owns(watch_id):
                self.scheduler.remove(watch_id)
                return
            with logs.context(watch=watch_id, channel=info.channel):
                await self._run(info)

    async def _run(self, info: WatchInfo) -> None:
        try:
            target = parse_target(info.url)
            light = replace(self.light, expect=info.expect)
            diagnosis = await self.check_function(target, light, _ignore)
            opening = (
                not diagnosis.healthy
                and info.memory.state == "healthy"
                and info.memory.failures + 1 >= info.fail_after
            )
            if opening:  # confirm with a full check before anyone is paged
                full = replace(self.settings.check, expect=info.expect)
                diagnosis = await self.check_function(target, full, _ignore)
        except (TargetRefused, TargetError) as exc:
            await self.incidents.say(
                self.chat,
                info.channel,
                alerts.note(
                    f":no_entry: I stopped watching {alerts.escape(info.url)}: {alerts.escape(exc)}"
                ),
            )
            await self._remove(info.id)
            return
        now = self.clock()
        key = diagnosis_key(diagnosis.http_status, diagnosis.cause.code, diagnosis.product)
        outcome = Outcome(at=now, healthy=diagnosis.healthy, key=key)
        incident = await self._incident_for(info, outcome)
        hold = False
        if (
            not outcome.healthy
            and diagnosis.cause.code in NETWORK_CAUSES
            and (info.memory.state == "healthy" and info.memory.failures + 1 >= info.fail_after)
        ):
            hold = not await self.selfcheck.network_ok()
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
            self._save_memory(info, now=True)  # a transition is written at once, after its incident
        if event in (Event.OPENED, Event.REOPENED, Event.RECOVERED):
            self.home.changed(info.team)
        self._record(info, diagnosis, now)
        await self._maybe_warn_certificate(info, diagnosis)

    async def _incident_for(self, info: WatchInfo, outcome: Outcome) -> IncidentRow | None:
        if info.memory.state == "down":
            return await self.store.open_incident(info.id)
        if not outcome.healthy and info.memory.failures + 1 >= info.fail_after:
            return await self.store.last_incident(info.id)  # for flapping
        return None

    async def _act(
        self,
        info: WatchInfo,
        event: Event,
        diagnosis: Diagnosis,
        incident: IncidentRow | None,
        now: datetime,
    ) -> None:
        if event is Event.HELD:
            await self._tell_trouble(info.channel)
            return
        if event is not Event.NOTHING or info.memory.state == "down":
            await self._network_back()
        if event in (Event.NOTHING, Event.HELD):
            return
        await self.incidents.act(info, event, diagnosis, incident, now)

    async def _maybe_warn_certificate(self, info: WatchInfo, diagnosis: Diagnosis) -> None:
        tls = diagnosis.evidence.tls
        certificate = tls.certificate if tls is not None and tls.ok else None
        if certificate is None or self.incidents.muted(info):
            return
        days = certificate.days_left(self.clock())
        key = f"{certificate.subject}|{certificate.not_after.isoformat()}"[:600]
        if days >= CERT_WARNING_DAYS or info.cert_warned == key:
            return
        info.cert_warned = key
        await self.store.save_watch_state(info.id, cert_warned=key)
        await self.incidents.say(
            self.chat,
            info.channel,
            alerts.cert_warning(
                parse_target(info.url).host, days, certificate.not_after, certificate.subject
            ),
        )

    async def _tell_trouble(self, channel: str) -> None:
        if channel in self._trouble_told:
            return
        self._trouble_told.add(channel)
        await self.incidents.say(self.chat, channel, alerts.note(alerts.NETWORK_TROUBLE))

    async def _network_back(self) -> None:
        if not self._trouble_told:
            return
        self.selfcheck.forget()
        if not await self.selfcheck.network_ok():
            return
        told, self._trouble_told = self._trouble_told, set()
        for channel in sorted(told):
            await self.incidents.say(self.chat, channel, alerts.note(alerts.NETWORK_BACK))

    # --- between checks: reminders, escalation, mute windows --------------------------

    async def _alarms_forever(self) -> None:
        tick = _tick(self.policy)
        while True:
            # A mute ends on time: wake for the nearest end if it comes before the tick.
            ends = [w.muted_until for w in self.watches.values() if w.muted_until is not None]
            until_end = (min(ends) - self.clock()).total_seconds() if ends else tick
            self._alarm_wake.clear()
            with contextlib.suppress(TimeoutError):  # a new mute wakes the clock to re-plan
                await asyncio.wait_for(
                    self._alarm_wake.wait(), min(tick, max(0.2, until_end + 0.05))
                )
            try:
                await self.sweep()
            except Exception:  # the clock never stops; the next tick tries again
                log.exception("the alarm clock's sweep failed; trying again")

    async def sweep(self) -> None:
        """One look at every watch's clock: one query for the open incidents, and the
        watch's lock only for those with something due."""
        now = self.clock()  # the watches held here: a watch's holder reminds and escalates
        concerned = [w for w in self.watches.values() if w.memory.state == "down" or w.muted_until]
        incidents = await self.store.open_incidents_of(
            [w.id for w in concerned if w.memory.state == "down"]
        )
        can_escalate = self.incidents.escalations.enabled
        for info in concerned:
            if alarms(_timers(info, incidents.get(info.id)), now, self.policy, can_escalate):
                try:
                    await self.alarm(info.id)
                except Exception:  # one watch's trouble never stops the others' clocks
                    log.exception("alarms of watch %s failed; trying again", info.id)

    async def alarm(self, watch_id: int) -> None:
        """Do what an open incident's clock says is due (bot/watch/state.py `alarms`)."""
        info = self.watches.get(watch_id)
        if info is None or (info.memory.state != "down" and info.muted_until is None):
            return
        async with self._lock(watch_id):
            if self.watches.get(watch_id) is not info:
                return
            incident = (
                await self.store.open_incident(info.id) if info.memory.state == "down" else None
            )
            timers = _timers(info, incident)
            now = self.clock()
            for event in alarms(timers, now, self.policy, self.incidents.escalations.enabled):
                if event in (Event.RELEASE, Event.UNMUTED):
                    await self._end_mute(info)
                elif incident is not None and event is Event.ESCALATE:
                    await self.incidents.escalate(info, incident, now)
                elif incident is not None and event is Event.REMIND:
                    await self.incidents.remind(info, incident, now)

    # --- write-behind ---------------------------------------------------------------------

    def _record(self, info: WatchInfo, diagnosis: Diagnosis, now: datetime) -> None:
        metrics.CHECKS.labels(diagnosis.status, diagnosis.cause.code).inc()
        metrics.CHECK_SECONDS.observe(diagnosis.evidence.duration_ms / 1000)
        self._history.append(
            CheckRecord(
                watch_id=info.id,
                at=now,
                status=diagnosis.status,
                cause=diagnosis.cause.code,
                http_status=diagnosis.http_status,
                duration_ms=diagnosis.evidence.duration_ms,
            )
        )
        self._save_memory(info)

    def _save_memory(self, info: WatchInfo, now: bool = False) -> None:
        memory = info.memory
        self._pending[info.id] = {
            "state": memory.state,
            "failures": memory.failures,
            "successes": memory.successes,
            "failing_since": memory.failing_since,
            "last_checked_at": memory.last_checked_at,
        }
        if now:  # a transition: written at once, not a second later
            values = self._pending.pop(info.id)
            task = asyncio.get_running_loop().create_task(
                self.store.save_watch_state(info.id, **values)
            )
            self._writes.add(task)
            task.add_done_callback(self._writes.discard)

    async def flush(self) -> None:
        """Write the buffered history and counters in one transaction each."""
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)
        history = [r for r in self._history if r.watch_id in self.watches]
        pending = {k: v for k, v in self._pending.items() if k in self.watches}
        self._history, self._pending = [], {}
        try:
            await self.store.write_behind(history, pending)
        except (SQLAlchemyError, OSError):
            if self._flush_failed:  # twice in a row: this batch is the problem, not the moment
                log.exception("writing %d checks failed again; dropping them", len(history))
                self._flush_failed = False
                return
            log.exception("writing %d checks failed; retrying with the next flush", len(history))
            self._flush_failed = True
            self._history = history + self._history
            self._pending = {**pending, **self._pending}
            return
        self._flush_failed = False

    async def _flush_forever(self) -> None:
        pruned_at = self.clock()
        while True:
            await asyncio.sleep(FLUSH_EVERY)
            await self.flush()
            if self.fleet.shards and (self.clock() - self._resynced).total_seconds() > RESYNC:
                self._resynced = self.clock()
                with contextlib.suppress(SQLAlchemyError, OSError):
                    await self._resync()
            if self.leading and self.clock() - pruned_at > timedelta(hours=1):
                pruned_at = self.clock()
                with contextlib.suppress(SQLAlchemyError, OSError):
                    await self.store.prune_history(pruned_at)

    def _canary_check(self) -> Callable[[], Awaitable[bool]]:
        async def canary() -> bool:
            try:
                result = await self.check_function(
                    parse_target(self.settings.canary or ""), self.light, _ignore
                )
            except (TargetRefused, TargetError):
                return False
            return result.cause.code not in NETWORK_CAUSES

        return canary


def _timers(info: WatchInfo, incident: IncidentRow | None) -> Timers:
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


def _failing_words(expect: Expectations) -> str:
    parts = []
    if expect.statuses:
        parts.append("a status other than " + " or ".join(str(s) for s in expect.statuses))
    parts += [f'no "{text}" on the page' for text in expect.contains]
    parts += [f'"{text}" on the page' for text in expect.absent]
    parts.append(f"an answer slower than {expect.slow_threshold:g} ms")
    return ", ".join(parts)


async def _say_not_watched(chat: Chat, channel: str, user: str, target: Target) -> None:
    """The one answer for a command about a site this channel does not watch."""
    await chat.ephemeral(
        channel,
        user,
        alerts.note(
            f"This channel does not watch {alerts.escape(target.url)}; "
            "`/gateway watches` lists what it watches."
        ),
    )
