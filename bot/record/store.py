"""The incident record's two tables, apart from the watches (Alembic revision 0007).

A record is not tied to its watch by a foreign key: `unwatch` must not erase what happened.
It is found by the incident it records (watch id, incident id and the first failed check,
which together never repeat even where SQLite reuses ids) or by channel and URL. Every
method is one short transaction; the tally of checks is updated in place.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.record.model import Event, Kind, Record
from bot.watch.store import Base, UTCDateTime

MAX_EVENTS = 500  # per incident; a flapping week stays bounded
VALUE_LIMIT = 600  # characters per recorded value (a site's text is clipped, then stored)

metadata = Base.metadata  # one schema: Alembic's revisions are compared with it
records = Table(
    "incident_records",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("uid", String(36), nullable=False, unique=True),
    Column("incident_key", String(120), nullable=False, unique=True),
    Column("team", String(32), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("url", String(2100), nullable=False),
    Column("host", String(300), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("alert_ts", String(32), nullable=True),
    Column("recovered_at", UTCDateTime, nullable=True),
    Column("tally", Text, nullable=False, default="{}"),
    Column("events", Integer, nullable=False, default=0),
    Index("records_of_site", "team", "channel", "url", "started_at"),
)
events = Table(
    "incident_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "record_id",
        Integer,
        ForeignKey("incident_records.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("at", UTCDateTime, nullable=False),
    Column("kind", String(24), nullable=False),
    Column("actor", String(32), nullable=True),
    Column("data", Text, nullable=False, default="{}"),
)


def incident_key(watch_id: int, incident_id: int, started_at: datetime) -> str:
    return f"{watch_id}:{incident_id}:{started_at.timestamp():.3f}"


def _clip(data: dict[str, str]) -> str:
    return json.dumps({str(k)[:40]: str(v)[:VALUE_LIMIT] for k, v in list(data.items())[:12]})


class RecordStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def start(
        self,
        key: str,
        *,
        team: str,
        channel: str,
        url: str,
        host: str,
        started_at: datetime,
    ) -> int:
        """The record of this incident, made if it is new; its id.

        Two replicas may start the same record at once: the unique key lets one insert win,
        and the other reads the winner's id.
        """
        try:
            return await self._start(
                key, team=team, channel=channel, url=url, host=host, started_at=started_at
            )
        except IntegrityError:
            found = await self.find_key(key)
            if found is None:
                raise
            return found

    async def _start(
        self, key: str, *, team: str, channel: str, url: str, host: str, started_at: datetime
    ) -> int:
        async with self.engine.begin() as db:
            found = (
                await db.execute(select(records.c.id).where(records.c.incident_key == key))
            ).scalar_one_or_none()
            if found is not None:
                return int(found)
            result = await db.execute(
                insert(records).values(
                    uid=uuid.uuid4().hex,
                    incident_key=key,
                    team=team[:32],
                    channel=channel[:32],
                    url=url[:2100],
                    host=host[:300],
                    started_at=started_at,
                    tally="{}",
                    events=0,
                )
            )
            inserted = result.inserted_primary_key
            assert inserted is not None
            return int(inserted[0])

    async def find_key(self, key: str) -> int | None:
        async with self.engine.connect() as db:
            found = (
                await db.execute(select(records.c.id).where(records.c.incident_key == key))
            ).scalar_one_or_none()
            return int(found) if found is not None else None

    async def add(self, record_id: int, event: Event) -> bool:
        """Append an event; False when the record is full (MAX_EVENTS) or gone."""
        async with self.engine.begin() as db:
            bumped = await db.execute(
                update(records)
                .where(records.c.id == record_id, records.c.events < MAX_EVENTS)
                .values(events=records.c.events + 1)
            )
            if not bumped.rowcount:
                return False
            await db.execute(
                insert(events).values(
                    record_id=record_id,
                    at=event.at,
                    kind=str(event.kind),
                    actor=(event.actor or None) and event.actor[:32],
                    data=_clip(event.data),
                )
            )
            return True

    async def count(self, record_id: int, word: str, checks: int = 1) -> None:
        """`checks` more checks that said `word`."""
        async with self.engine.begin() as db:
            raw = (
                await db.execute(select(records.c.tally).where(records.c.id == record_id))
            ).scalar_one_or_none()
            if raw is None:
                return
            tally = _tally(raw)
            if word in tally or len(tally) < 50:
                tally[word[:80]] = tally.get(word[:80], 0) + checks
            await db.execute(
                update(records).where(records.c.id == record_id).values(tally=json.dumps(tally))
            )

    async def set(
        self,
        record_id: int,
        *,
        alert_ts: str | None = None,
        recovered_at: datetime | None = None,
        reopened: bool = False,
    ) -> None:
        values: dict[str, object] = {}
        if alert_ts is not None:
            values["alert_ts"] = alert_ts[:32]
        if recovered_at is not None:
            values["recovered_at"] = recovered_at
        if reopened:
            values["recovered_at"] = None
        if values:
            async with self.engine.begin() as db:
                await db.execute(update(records).where(records.c.id == record_id).values(**values))

    async def record(self, record_id: int) -> Record | None:
        async with self.engine.connect() as db:
            row = (await db.execute(select(records).where(records.c.id == record_id))).first()
            if row is None:
                return None
            found = await db.execute(
                select(events).where(events.c.record_id == record_id).order_by(events.c.id)
            )
            return _record(row, [_event(e) for e in found])

    async def by_uid(self, uid: str) -> Record | None:
        async with self.engine.connect() as db:
            found = (
                await db.execute(select(records.c.id).where(records.c.uid == uid))
            ).scalar_one_or_none()
        return await self.record(int(found)) if found is not None else None

    async def by_incident(
        self, team: str, channel: str, watch_id: int, incident_id: int
    ) -> int | None:
        """The newest record of this watch's incident, if it belongs to this channel."""
        prefix = f"{int(watch_id)}:{int(incident_id)}:"
        async with self.engine.connect() as db:
            found = (
                await db.execute(
                    select(records.c.id)
                    .where(
                        records.c.incident_key.startswith(prefix, autoescape=True),
                        records.c.channel == channel,
                        records.c.team.in_((team, "")),
                    )
                    .order_by(records.c.id.desc())
                    .limit(1)
                )
            ).scalar_one_or_none()
            return int(found) if found is not None else None

    async def of_site(self, team: str, channel: str, url: str, limit: int = 10) -> list[int]:
        """The ids of this channel's records for the URL, newest first."""
        async with self.engine.connect() as db:
            found = await db.execute(
                select(records.c.id)
                .where(records.c.team == team, records.c.channel == channel, records.c.url == url)
                .order_by(records.c.started_at.desc(), records.c.id.desc())
                .limit(limit)
            )
            return [int(r[0]) for r in found]

    async def purge(self, before: datetime) -> int:
        """Forget records that ended (or, still open, started) before `before`."""
        ended = func.coalesce(records.c.recovered_at, records.c.started_at)
        async with self.engine.begin() as db:
            old = [
                int(r[0])
                for r in await db.execute(select(records.c.id).where(ended < before).limit(5000))
            ]
            if not old:
                return 0
            await db.execute(delete(events).where(events.c.record_id.in_(old)))
            await db.execute(delete(records).where(records.c.id.in_(old)))
            return len(old)


def _incident_id(key: str) -> int | None:
    parts = str(key).split(":")
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None


def _tally(raw: object) -> dict[str, int]:
    try:
        found = json.loads(str(raw))
    except ValueError:
        return {}
    if not isinstance(found, dict):
        return {}
    return {str(k): int(v) for k, v in found.items() if isinstance(v, int) and v > 0}


def _event(row: object) -> Event:
    mapping = row._mapping  # type: ignore[attr-defined]
    try:
        data = json.loads(mapping["data"] or "{}")
    except ValueError:
        data = {}
    try:
        kind = Kind(mapping["kind"])
    except ValueError:
        kind = Kind.REMINDED  # an event of a newer version: shown as a plain note
    clean = {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    return Event(at=mapping["at"], kind=kind, actor=mapping["actor"], data=clean)


def _record(row: object, found: list[Event]) -> Record:
    m = row._mapping  # type: ignore[attr-defined]
    return Record(
        id=m["id"],
        uid=m["uid"],
        team=m["team"],
        channel=m["channel"],
        url=m["url"],
        host=m["host"],
        started_at=m["started_at"],
        alert_ts=m["alert_ts"],
        recovered_at=m["recovered_at"],
        tally=_tally(m["tally"]),
        incident_id=_incident_id(m["incident_key"]),
        events=tuple(found),
    )
