"""Writes the incident record as things happen; never lets a failure to record stop an alert.

The watch service calls one method per happening, with plain values (not database rows), so
the record does not depend on how incidents are stored. Each incident's record id is found
once and remembered; a write that fails is logged and skipped: the alert matters more.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from bot.record.model import Event, Kind, Record
from bot.record.store import RecordStore, incident_key
from bot.record.timeline import check_word

log = logging.getLogger(__name__)
REMEMBERED = 10_000  # record ids kept in memory (one per open incident, in practice)


@dataclass(frozen=True)
class Where:
    """Which incident, and of which site: enough to find or start its record."""

    watch_id: int
    incident_id: int
    started_at: datetime  # the first failed check
    team: str
    channel: str
    url: str
    host: str

    @property
    def key(self) -> str:
        return incident_key(self.watch_id, self.incident_id, self.started_at)


@dataclass(frozen=True)
class Said:
    """What one check said, as the record keeps it."""

    http_status: int | None
    cause: str
    product: str | None  # the product's name as people write it, or None
    summary: str
    excerpt: str
    healthy: bool

    def data(self) -> dict[str, str]:
        return {
            "status": str(self.http_status) if self.http_status is not None else "",
            "cause": self.cause,
            "product": self.product or "",
            "summary": self.summary,
            "excerpt": self.excerpt,
        }

    @property
    def word(self) -> str:
        return check_word(self.http_status, self.cause, self.product, self.healthy)


class Recorder:
    def __init__(self, store: RecordStore | None) -> None:
        self._store = store  # None: no database to keep a record in (the memory store)
        self._ids: dict[str, int] = {}

    @property
    def keeping(self) -> bool:
        """Whether records are kept (there is a database to keep them in)."""
        return self._store is not None

    @property
    def store(self) -> RecordStore:
        assert self._store is not None, "check `keeping` first"
        return self._store

    async def _id(self, where: Where) -> int:
        known = self._ids.get(where.key)
        if known is not None:
            return known
        record_id = await self.store.start(
            where.key,
            team=where.team,
            channel=where.channel,
            url=where.url,
            host=where.host,
            started_at=where.started_at,
        )
        if len(self._ids) >= REMEMBERED:
            self._ids.clear()
        self._ids[where.key] = record_id
        return record_id

    async def opened(self, where: Where, said: Said, at: datetime, checks: int = 1) -> None:
        """The incident opened: `checks` failed checks in a row led to it."""
        if not self.keeping:
            return
        try:
            record_id = await self._id(where)
            await self.store.add(record_id, Event(at, Kind.OPENED, data=said.data()))
            await self.store.count(record_id, said.word, max(1, min(checks, 100)))
        except Exception:
            log.exception("could not record the opening of incident %s", where.incident_id)

    async def checked(self, where: Where, said: Said) -> None:
        await self._safely(where, "a check", lambda rid: self.store.count(rid, said.word))

    async def changed(self, where: Where, before: str, said: Said, at: datetime) -> None:
        event = Event(at, Kind.CHANGED, data={"before": before, **said.data()})
        await self._add(where, event)

    async def reopened(self, where: Where, said: Said, flaps: int, at: datetime) -> None:
        event = Event(at, Kind.REOPENED, data={"flaps": str(flaps), **said.data()})

        async def write(record_id: int) -> None:
            await self.store.set(record_id, reopened=True)
            await self.store.add(record_id, event)

        await self._safely(where, "a flap", write)

    async def alerted(self, where: Where, alert_ts: str) -> None:
        await self._safely(where, "the alert", lambda rid: self.store.set(rid, alert_ts=alert_ts))

    async def happened(
        self, where: Where, kind: Kind, at: datetime, actor: str | None = None, **data: str
    ) -> None:
        """Acknowledged, muted, unmuted, reminded, escalated, escalation failed."""
        await self._add(where, Event(at, kind, actor=actor, data=data))

    async def recovered(self, where: Where, at: datetime) -> None:
        seconds = max(0.0, (at - where.started_at).total_seconds())
        event = Event(at, Kind.RECOVERED, data={"downtime_s": f"{seconds:.0f}"})

        async def write(record_id: int) -> None:
            await self.store.add(record_id, event)
            await self.store.set(record_id, recovered_at=at)

        await self._safely(where, "the recovery", write)

    async def _add(self, where: Where, event: Event) -> None:
        async def write(record_id: int) -> None:
            await self.store.add(record_id, event)

        await self._safely(where, str(event.kind), write)

    async def _safely(
        self, where: Where, what: str, write: Callable[[int], Awaitable[object]]
    ) -> None:
        if not self.keeping:
            return
        try:
            await write(await self._id(where))
        except Exception:
            log.exception("could not record %s of incident %s", what, where.incident_id)

    # --- reading -------------------------------------------------------------------------

    async def latest(self, team: str, channel: str, url: str) -> Record | None:
        if not self.keeping:
            return None
        ids = await self.store.of_site(team, channel, url, limit=1)
        return await self.store.record(ids[0]) if ids else None

    async def recent(self, team: str, channel: str, url: str, limit: int = 10) -> list[Record]:
        found: list[Record] = []
        if not self.keeping:
            return found
        for record_id in await self.store.of_site(team, channel, url, limit=limit):
            if (record := await self.store.record(record_id)) is not None:
                found.append(record)
        return found
