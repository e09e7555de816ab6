"""Taking watches on and letting them go, shard by shard as the fleet decides
(bot/watch/fleet.py): rebuild the jobs from the watches table, finish what a crash
left half done, hand a shard over with its memory written, follow other replicas'
changes, and re-read the table now and then (a lost NOTIFY costs RESYNC seconds at
most)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass, fields, replace

from sqlalchemy.exc import SQLAlchemyError

from bot.render import watch_notes as notes
from bot.watch.core import Watched
from bot.watch.model import WatchInfo, unusable, watch_info
from bot.watch.records import WatchRecord, WatchUpdate
from bot.watch.shards import shard_of

log = logging.getLogger(__name__)

OVERDUE_SPREAD = 5.0  # seconds over which watches found overdue at start are first checked


@dataclass(frozen=True)
class Unreadable:
    """The keys of a watch row whose other columns cannot be read."""

    id: int
    channel: str
    url: str
    unusable_reported: object


Skipped = tuple[WatchRecord | Unreadable, str]


class Adoption:
    def __init__(self, core: Watched) -> None:
        self.core = core
        self.background: set[asyncio.Task[None]] = set()
        self.resynced = core.clock()

    async def take(self, shards: frozenset[int]) -> None:
        """This replica checks these shards now: rebuild their jobs from the watches table,
        and finish what a crash (of this process or of their last holder) left half done."""
        core = self.core
        skipped: list[Skipped] = []
        adopted: set[int] = set()
        for row in await self.rows(skipped, shards):
            problem = self.adopt(row)
            if problem is not None:
                log.warning(
                    "skipping watch %s of %s in %s: %s", row.id, row.url, row.channel, problem
                )
                skipped.append((row, problem))
            else:
                adopted.add(row.id)
        await self._reconcile(adopted)
        self.resynced = core.clock()
        if skipped:
            task = asyncio.get_running_loop().create_task(self._tell_skipped(skipped))
            self.background.add(task)
            task.add_done_callback(self.background.discard)
        log.info("watching %d sites (%d more)", len(core.watches), len(adopted))

    async def let_go(self, shards: frozenset[int], handing_over: bool) -> None:
        """Stop these shards' watches. Handing over: after their running checks, with their
        memory written (the next holder schedules from last_checked_at). Otherwise another
        replica may hold them already: forget them, and their writes not yet made."""
        core = self.core
        leaving = [w for w in core.watches if shard_of(w) in shards]
        for watch_id in leaving:
            core.scheduler.remove(watch_id)
        if handing_over:
            for watch_id in leaving:
                async with core.lock(watch_id):  # not in the middle of its check
                    pass
            with contextlib.suppress(SQLAlchemyError, OSError):
                await core.write_behind.flush()
        for watch_id in leaving:
            core.forget(watch_id)
            core.write_behind.drop_history(watch_id)

    async def changed(self, what: str, watch_id: int) -> None:
        """Another replica changed a watch (bot/watch/fleet.py's NOTIFY); the one that runs
        it acts."""
        core = self.core
        if not core.role.runs(watch_id):
            return
        if what == "recheck":
            if watch_id in core.watches and core.run is not None:
                await core.run(watch_id)
            return
        async with core.lock(watch_id):
            try:
                row = await core.store.watch(watch_id)
            except (ValueError, TypeError, OverflowError):
                row = None
            if row is None:
                core.forget(watch_id)
                return
            if self.adopt(row, first_in=0.5 if what == "new" else None) is not None:
                core.forget(watch_id)

    def adopt(self, row: WatchRecord, first_in: float | None = None) -> str | None:
        """Schedule a watch read from the database, keeping the memory of one known here;
        why it cannot be run, if it cannot (then it is left alone)."""
        core = self.core
        problem = unusable(row)
        if problem is not None:
            return problem
        if not core.role.runs(row.id):  # its shard moved on while the row was read
            return None
        known = core.watches.get(row.id)
        try:
            fresh = watch_info(row)
            if known is None:
                core.scheduler.add(
                    row.id, fresh.interval_s, first_in=first_in or self._first_in(fresh)
                )
                core.watches[row.id] = fresh
                return None
            # Known here: take the settings in place (a running check holds this object)
            # and keep the memory, which is ahead of the write-behind.
            if known.interval_s != fresh.interval_s or first_in is not None:
                core.scheduler.add(row.id, fresh.interval_s, first_in=first_in)
        except (ValueError, TypeError, OverflowError) as exc:
            return f"it cannot be scheduled ({type(exc).__name__})"
        for item in fields(WatchInfo):
            if item.name != "memory":
                setattr(known, item.name, getattr(fresh, item.name))
        return None

    async def resync(self) -> None:
        """Re-read the watches table: a lost NOTIFY costs RESYNC seconds at most."""
        core = self.core
        self.resynced = core.clock()
        shards = core.role.shards  # those taken or let go meanwhile are not this one's to judge
        rows = await self.rows(shards=shards)
        for row in rows:
            if self.adopt(row) is not None:
                core.forget(row.id)
        ids = {row.id for row in rows}
        for watch_id in [w for w in core.watches if w not in ids and shard_of(w) in shards]:
            core.forget(watch_id)

    async def _reconcile(self, adopted: set[int]) -> None:
        """What a crash may have left half done: an open incident behind a watch whose
        state was not yet written "down", an alert posted without its ts being stored."""
        core = self.core
        for incident in await core.store.open_incidents():
            info = core.watches.get(incident.watch_id)
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
                await core.store.update_watch(
                    info.id, WatchUpdate(state="down", failing_since=info.memory.failing_since)
                )
            await core.incidents.reconcile(info, incident)

    async def rows(
        self, skipped: list[Skipped] | None = None, shards: frozenset[int] | None = None
    ) -> list[WatchRecord]:
        """Every watch row (of these shards); when one cannot even be read (a date that is
        not a date), the others one by one, so that one row never stops the bot."""
        store = self.core.store
        try:
            return await store.watches(shards=shards)
        except (ValueError, TypeError, OverflowError):
            if skipped is not None:  # at start-up; said once, not at every listing
                log.warning("a watch row cannot be read; reading them one by one")
        rows = []
        for watch_id, channel, url, told in await store.watch_keys():
            if shards is not None and shard_of(watch_id) not in shards:
                continue
            try:
                row = await store.watch(watch_id)
            except (ValueError, TypeError, OverflowError) as exc:
                if skipped is not None:
                    problem = f"its stored data cannot be read ({type(exc).__name__})"
                    log.warning(
                        "skipping watch %s of %s in %s: %s", watch_id, url, channel, problem
                    )
                    skipped.append((Unreadable(watch_id, channel, url, told), problem))
                continue
            if row is not None:
                rows.append(row)
        return rows

    async def _tell_skipped(self, skipped: list[Skipped]) -> None:
        """Say in its channel, once (the row remembers it was told), why a watch is not run."""
        core = self.core
        for row, problem in skipped:
            if row.unusable_reported:
                continue
            said = notes.not_running(row.url, problem, isinstance(row, Unreadable))
            try:
                await core.incidents.say(core.chat, row.channel, said)
                await core.store.update_watch(row.id, WatchUpdate(unusable_reported=True))
            except Exception:  # Slack or the database away: said again at the next start
                log.exception("could not tell %s about the skipped watch %s", row.channel, row.id)

    def _first_in(self, info: WatchInfo) -> float | None:
        """When a watch first runs after a start-up: overdue ones soon, but spread out.

        None lets the scheduler spread it over its interval. A restart must not
        become a thundering herd of every watch at once.
        """
        last = info.memory.last_checked_at
        if last is None:
            return None
        due_in = info.interval_s - (self.core.clock() - last).total_seconds()
        if due_in <= 0:  # soon (a takeover must check every watch within 15 s), spread out
            return random.uniform(0.5, min(info.interval_s, OVERDUE_SPREAD))
        return due_in + random.uniform(0, min(info.interval_s * 0.1, 1.0))
