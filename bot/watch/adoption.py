"""Taking watches on and letting them go, as the fleet decides: rebuild the jobs from the
watches table, finish what a crash left half done, follow other replicas' changes, and
re-read the table now and then (a lost NOTIFY costs RESYNC seconds at most)."""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, fields, replace

from bot import metrics
from bot.render import watch_notes as notes
from bot.watch.core import Watched
from bot.watch.model import WatchInfo, unusable, watch_info
from bot.watch.records import WatchRecord, WatchUpdate

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

    async def lead(self) -> None:
        """This replica checks the watches now: rebuild every job from the watches table,
        and finish what a crash (of this process or of the last leader) left half done."""
        core = self.core
        skipped: list[Skipped] = []
        for row in await self.rows(skipped):
            problem = self.adopt(row)
            if problem is not None:
                log.warning(
                    "skipping watch %s of %s in %s: %s", row.id, row.url, row.channel, problem
                )
                skipped.append((row, problem))
        await self._reconcile()
        self.resynced = core.clock()
        metrics.LEADER.set(1)
        if skipped:
            task = asyncio.get_running_loop().create_task(self._tell_skipped(skipped))
            self.background.add(task)
            task.add_done_callback(self.background.discard)
        log.info("watching %d sites", len(core.watches))

    async def follow(self) -> None:
        """Another replica checks now: forget the jobs, and the writes not yet made."""
        metrics.LEADER.set(0)
        for watch_id in list(self.core.watches):
            self.core.forget(watch_id)
        self.core.write_behind.clear()

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
        rows = await self.rows()
        for row in rows:
            if self.adopt(row) is not None:
                core.forget(row.id)
        ids = {row.id for row in rows}
        for watch_id in [w for w in core.watches if w not in ids]:
            core.forget(watch_id)

    async def _reconcile(self) -> None:
        """What a crash may have left half done: an open incident behind a watch whose
        state was not yet written "down", an alert posted without its ts being stored."""
        core = self.core
        for incident in await core.store.open_incidents():
            info = core.watches.get(incident.watch_id)
            if info is None:
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

    async def rows(self, skipped: list[Skipped] | None = None) -> list[WatchRecord]:
        """Every watch row; when one cannot even be read (a date that is not a date),
        the others one by one, so that one row never stops the bot."""
        store = self.core.store
        try:
            return await store.watches()
        except (ValueError, TypeError, OverflowError):
            if skipped is not None:  # at start-up; said once, not at every listing
                log.warning("a watch row cannot be read; reading them one by one")
        rows = []
        for watch_id, channel, url, told in await store.watch_keys():
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
