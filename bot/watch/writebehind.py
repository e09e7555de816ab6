"""Check history and counters, written behind in batches (once a second) so a check
costs no transaction of its own; a transition is written at once."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError

from bot import metrics
from bot.watch.model import WatchInfo
from bot.watch.records import CheckRecord, Store, WatchUpdate
from checks.diagnose import Diagnosis

log = logging.getLogger(__name__)


class WriteBehind:
    def __init__(self, store: Store, watches: dict[int, WatchInfo]) -> None:
        self.store = store
        self.watches = watches  # only the watches still run here are written
        self._history: list[CheckRecord] = []
        self._pending: dict[int, WatchUpdate] = {}
        self._writes: set[asyncio.Task[None]] = set()
        self._failed = False

    def record(self, info: WatchInfo, diagnosis: Diagnosis, now: datetime) -> None:
        """One check: counted, kept for the history, its counters saved soon."""
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
        self.save_memory(info)

    def save_memory(self, info: WatchInfo, now: bool = False) -> None:
        memory = info.memory
        self._pending[info.id] = WatchUpdate(
            state=memory.state,
            failures=memory.failures,
            successes=memory.successes,
            failing_since=memory.failing_since,
            last_checked_at=memory.last_checked_at,
        )
        if now:  # a transition: written at once, not a second later
            change = self._pending.pop(info.id)
            task = asyncio.get_running_loop().create_task(self.store.update_watch(info.id, change))
            self._writes.add(task)
            task.add_done_callback(self._writes.discard)

    def forget(self, watch_id: int) -> None:
        self._pending.pop(watch_id, None)

    def drop_history(self, watch_id: int) -> None:
        self._history = [r for r in self._history if r.watch_id != watch_id]

    def clear(self) -> None:
        """Another replica runs these watches now: the writes not yet made are its to make."""
        self._history, self._pending = [], {}

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
            if self._failed:  # twice in a row: this batch is the problem, not the moment
                log.exception("writing %d checks failed again; dropping them", len(history))
                self._failed = False
                return
            log.exception("writing %d checks failed; retrying with the next flush", len(history))
            self._failed = True
            self._history = history + self._history
            self._pending = {**pending, **self._pending}
            return
        self._failed = False
