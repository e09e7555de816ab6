"""Watches, incidents and a short check history, in a real database (SQLAlchemy, async).

A SQLite file by default, PostgreSQL by the same `GATEWAY_DATABASE_URL`; the
schema is Alembic's (bot/migrations: a new column is a new revision there). The
database is the one source of truth: the scheduler's jobs are rebuilt from the
watches table at start-up, and an incident is written as announced *before*
its alert is posted, so a crash can lose an edit but never post an alert twice.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Collection
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    case,
    delete,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from bot.spec import WatchSpec
from bot.watch.records import (
    CheckRecord,
    IncidentRecord,
    IncidentUpdate,
    NewIncident,
    StoreError,
    WatchRecord,
    WatchUpdate,
    expect_columns,
)
from bot.watch.shards import SHARDS

__all__ = ["CheckRecord", "SqlStore", "Store", "StoreError"]

SQLITE_BUSY_TIMEOUT = 1.0  # seconds
HISTORY_KEEP = timedelta(days=7)
MAX_WATCHES_PER_CHANNEL = 50


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if not isinstance(value, datetime):
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class WatchRow(Base):
    __tablename__ = "watches"
    __table_args__ = (UniqueConstraint("channel", "url", name="one_watch_per_channel_and_url"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(32), index=True)
    url: Mapped[str] = mapped_column(String(2100))
    target_input: Mapped[str] = mapped_column(String(2100))
    interval_s: Mapped[float] = mapped_column(Float)
    fail_after: Mapped[int] = mapped_column(Integer, default=2)
    recover_after: Mapped[int] = mapped_column(Integer, default=2)
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # the state machine's memory (bot/watch/state.py)
    state: Mapped[str] = mapped_column(String(16), default="healthy")
    failures: Mapped[int] = mapped_column(Integer, default=0)
    successes: Mapped[int] = mapped_column(Integer, default=0)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # a row found unusable at start-up, and its channel told so (once, not at every start)
    unusable_reported: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    last_summary: Mapped[str | None] = mapped_column(Text, nullable=True)
    muted_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cert_warned: Mapped[str | None] = mapped_column(String(600), nullable=True)
    # alerting (issue 11): who is told, what counts as failing, who muted it and why
    notify: Mapped[str | None] = mapped_column(String(300), nullable=True)  # Slack IDs, spaced
    expectations: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON
    muted_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    mute_reason: Mapped[str | None] = mapped_column(String(300), nullable=True)
    # `header NAME: VALUE` (revision 0004), as `Name: value`
    header_assertion: Mapped[str | None] = mapped_column(String(300), nullable=True)


class IncidentRow(Base):
    __tablename__ = "incidents"
    __table_args__ = (Index("open_incident_of_watch", "watch_id", "resolved_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    watch_id: Mapped[int] = mapped_column(ForeignKey("watches.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(32))
    failing_since: Mapped[datetime] = mapped_column(UTCDateTime)
    announced_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    alert_ts: Mapped[str | None] = mapped_column(String(32), nullable=True)
    diagnosis_key: Mapped[str] = mapped_column(String(200), default="")
    last_summary: Mapped[str] = mapped_column(Text, default="")
    excerpt: Mapped[str] = mapped_column(Text, default="")
    failure_count: Mapped[int] = mapped_column(Integer, default=0)
    flaps: Mapped[int] = mapped_column(Integer, default=0)
    acknowledged_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    recovered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # reminders and escalation (bot/watch/state.py `alarms`); alert_ts is Slack's delivery,
    # `deliveries` the others' references as JSON ({"pagerduty": dedup_key, "webhook": …})
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    deliveries: Mapped[str | None] = mapped_column(Text, nullable=True)
    # the incident's identity outside the database (PagerDuty's dedup key, the webhook's):
    # random, so never reused, although SQLite reuses the ids of deleted rows (0006)
    key: Mapped[str | None] = mapped_column(
        String(32), nullable=True, default=lambda: uuid.uuid4().hex
    )


class OutboxRow(Base):
    """An escalation event written before it is sent, deleted once delivered (or given
    up on): a kill -9 loses no page, whoever leads next sends what is left (0006)."""

    __tablename__ = "escalation_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(Integer)  # no foreign key: outlives a deletion
    provider: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(16))  # open | update | resolve
    ref: Mapped[str] = mapped_column(String(200), default="")
    alert: Mapped[str] = mapped_column(Text)  # the AlertView, as JSON
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CheckRow(Base):
    __tablename__ = "checks"
    __table_args__ = (Index("history_of_watch", "watch_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    watch_id: Mapped[int] = mapped_column(ForeignKey("watches.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))
    cause: Mapped[str] = mapped_column(String(40))
    http_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    duration_ms: Mapped[float] = mapped_column(Float)


def async_url(url: str) -> str:
    """`sqlite:///f.db` → `sqlite+aiosqlite:///f.db`, `postgresql://…` → `…+asyncpg`."""
    parsed = make_url(url)
    drivers = {
        "sqlite": "sqlite+aiosqlite",
        "postgresql": "postgresql+asyncpg",
        "postgres": "postgresql+asyncpg",
    }
    if parsed.drivername in drivers:
        parsed = parsed.set(drivername=drivers[parsed.drivername])
    return parsed.render_as_string(hide_password=False)


def _sqlite_foreign_keys(connection: Any, _record: object) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _watch(row: WatchRow) -> WatchRecord:
    return WatchRecord(**{name: getattr(row, name) for name in _WATCH_FIELDS})


def _incident(row: IncidentRow) -> IncidentRecord:
    return IncidentRecord(**{name: getattr(row, name) for name in _INCIDENT_FIELDS})


_WATCH_FIELDS = tuple(f.name for f in fields(WatchRecord))
_INCIDENT_FIELDS = tuple(f.name for f in fields(IncidentRecord))


def _connect_args(url: str) -> dict[str, float]:
    """SQLite waits SQLITE_BUSY_TIMEOUT for a lock another program holds (a backup, a hand
    in `sqlite3`), not pysqlite's 5 s: a write before an ack must fail inside Slack's 3 s."""
    return {"timeout": SQLITE_BUSY_TIMEOUT} if make_url(url).get_backend_name() == "sqlite" else {}


def _among(channel: str | None, shards: Collection[int] | None) -> list[ColumnElement[bool]]:
    """The conditions for the watches of a channel, of some shards (bot/watch/shards.py)."""
    conditions = [WatchRow.channel == channel] if channel is not None else []
    if shards is not None and len(shards) < SHARDS:
        conditions.append((WatchRow.id % SHARDS).in_(sorted(shards)))
    return conditions


class SqlStore:
    """The `Store` (bot/watch/records.py) on SQLAlchemy: SQLite or PostgreSQL."""

    def __init__(self, url: str) -> None:
        self.url = async_url(url)
        self.engine: AsyncEngine = create_async_engine(self.url, connect_args=_connect_args(url))
        if self.engine.dialect.name == "sqlite":  # enforce foreign keys as PostgreSQL does
            event.listen(self.engine.sync_engine, "connect", _sqlite_foreign_keys)
        self.session = async_sessionmaker(self.engine, expire_on_commit=False)

    async def open(self) -> SqlStore:
        """Connect. The schema is start-up's to bring up to date (`bot.migrations.opened`)."""
        if self.engine.dialect.name == "sqlite":
            async with self.engine.begin() as connection:
                await connection.exec_driver_sql("PRAGMA journal_mode=WAL")
        return self

    async def close(self) -> None:
        await self.engine.dispose()

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def counts(self) -> tuple[int, int]:
        async with self.session() as session:
            stored = await session.execute(select(func.count()).select_from(WatchRow))
            open_incidents = await session.execute(
                select(func.count())
                .select_from(IncidentRow)
                .where(IncidentRow.resolved_at.is_(None))
            )
            return stored.scalar_one(), open_incidents.scalar_one()

    # --- watches ------------------------------------------------------------------------

    async def upsert_watch(
        self,
        *,
        team: str,
        channel: str,
        spec: WatchSpec,
        created_by: str,
        now: datetime,
        recover_after: int = 2,
        team_limit: int | None = None,
    ) -> tuple[WatchRecord, bool]:
        """Create the watch, or update the one this channel has for the URL; (row, created).

        A new watch is refused (StoreError) past 50 in the channel or `team_limit` in the
        workspace. The spec's defaults are filled in (bot/watch/subscriptions.py).
        """
        url, interval_s, fail_after = spec.url, spec.interval_s, spec.fail_after
        notify = " ".join(spec.notify) or None
        expectations, header = expect_columns(spec.expect)
        async with self.session.begin() as session:
            row = (
                await session.execute(
                    select(WatchRow).where(WatchRow.channel == channel, WatchRow.url == url)
                )
            ).scalar_one_or_none()
            if row is not None:
                row.interval_s, row.fail_after = interval_s, fail_after
                row.notify, row.expectations = notify, expectations
                row.header_assertion = header
                if type(row.recover_after) is not int or not 1 <= row.recover_after <= 100:
                    row.recover_after = recover_after  # a row skipped as unusable, set right
                if row.state not in ("healthy", "down"):
                    row.state = "healthy"
                row.unusable_reported = None
                return _watch(row), False
            count = (
                await session.execute(
                    select(func.count()).select_from(WatchRow).where(WatchRow.channel == channel)
                )
            ).scalar_one()
            if count >= MAX_WATCHES_PER_CHANNEL:
                raise StoreError(
                    f"this channel already watches {count} sites, the most it may; "
                    "unwatch one first"
                )
            if team_limit is not None:
                team_count = (
                    await session.execute(
                        select(func.count()).select_from(WatchRow).where(WatchRow.team == team)
                    )
                ).scalar_one()
                if team_count >= team_limit:
                    raise StoreError(
                        f"this workspace already watches {team_count} sites, the most it may; "
                        "unwatch one first"
                    )
            row = WatchRow(
                team=team,
                channel=channel,
                url=url,
                target_input=spec.target.input,
                interval_s=interval_s,
                fail_after=fail_after,
                recover_after=recover_after,
                created_by=created_by,
                created_at=now,
                notify=notify,
                expectations=expectations,
                header_assertion=header,
                state="healthy",
                failures=0,
                successes=0,
            )
            session.add(row)
            await session.flush()
            return _watch(row), True

    async def watches(
        self, channel: str | None = None, shards: Collection[int] | None = None
    ) -> list[WatchRecord]:
        async with self.session() as session:
            query = select(WatchRow).where(*_among(channel, shards)).order_by(WatchRow.id)
            return [_watch(row) for row in (await session.execute(query)).scalars()]

    async def watch_keys(self) -> list[tuple[int, str, str, bool | None]]:
        """(id, channel, url, unusable_reported) of every watch: what any row can say."""
        query = select(WatchRow.id, WatchRow.channel, WatchRow.url, WatchRow.unusable_reported)
        async with self.session() as session:
            rows = await session.execute(query.order_by(WatchRow.id))
            return [(r[0], r[1], r[2], r[3]) for r in rows]

    async def watch(self, watch_id: int) -> WatchRecord | None:
        async with self.session() as session:
            row = await session.get(WatchRow, watch_id)
            return _watch(row) if row is not None else None

    async def find_watch(self, channel: str, url: str) -> WatchRecord | None:
        async with self.session() as session:
            row = (
                await session.execute(
                    select(WatchRow).where(WatchRow.channel == channel, WatchRow.url == url)
                )
            ).scalar_one_or_none()
            return _watch(row) if row is not None else None

    async def delete_watch(self, watch_id: int) -> None:
        async with self.session.begin() as session:
            await session.execute(delete(CheckRow).where(CheckRow.watch_id == watch_id))
            await session.execute(delete(IncidentRow).where(IncidentRow.watch_id == watch_id))
            await session.execute(delete(WatchRow).where(WatchRow.id == watch_id))

    async def update_watch(self, watch_id: int, change: WatchUpdate) -> None:
        values = change.values()
        if not values:
            return
        async with self.session.begin() as session:
            await session.execute(update(WatchRow).where(WatchRow.id == watch_id).values(**values))

    # --- incidents ----------------------------------------------------------------------

    async def open_incident(self, watch_id: int) -> IncidentRecord | None:
        async with self.session() as session:
            row = (
                await session.execute(
                    select(IncidentRow)
                    .where(IncidentRow.watch_id == watch_id, IncidentRow.resolved_at.is_(None))
                    .order_by(IncidentRow.id.desc())
                    .limit(1)
                )
            ).scalar_one_or_none()
            return _incident(row) if row is not None else None

    async def open_incidents_of(self, watch_ids: list[int]) -> dict[int, IncidentRecord]:
        """The open incident of each of these watches that has one, in one query."""
        found: dict[int, IncidentRecord] = {}
        async with self.session() as session:
            for start in range(0, len(watch_ids), 500):  # bound the IN list
                rows = await session.execute(
                    select(IncidentRow)
                    .where(
                        IncidentRow.watch_id.in_(watch_ids[start : start + 500]),
                        IncidentRow.resolved_at.is_(None),
                    )
                    .order_by(IncidentRow.id)
                )
                for row in rows.scalars():
                    found[row.watch_id] = _incident(row)  # the newest, if a crash left two
        return found

    async def open_incidents(self) -> list[IncidentRecord]:
        """Every incident not resolved, newest last (what a start-up reconciles)."""
        async with self.session() as session:
            query = select(IncidentRow).where(IncidentRow.resolved_at.is_(None))
            rows = (await session.execute(query.order_by(IncidentRow.id))).scalars()
            return [_incident(row) for row in rows]

    async def last_incident(self, watch_id: int) -> IncidentRecord | None:
        async with self.session() as session:
            row = (
                await session.execute(
                    select(IncidentRow)
                    .where(IncidentRow.watch_id == watch_id)
                    .order_by(IncidentRow.id.desc())
                    .limit(1)
                )
            ).scalar_one_or_none()
            return _incident(row) if row is not None else None

    async def incident(self, incident_id: int) -> IncidentRecord | None:
        async with self.session() as session:
            row = await session.get(IncidentRow, incident_id)
            return _incident(row) if row is not None else None

    async def create_incident(self, new: NewIncident) -> IncidentRecord:
        async with self.session.begin() as session:
            row = IncidentRow(**{f.name: getattr(new, f.name) for f in fields(NewIncident)})
            session.add(row)
            await session.flush()
            return _incident(row)

    async def update_incident(self, incident_id: int, change: IncidentUpdate) -> None:
        values = change.values()
        if not values:
            return
        async with self.session.begin() as session:
            await session.execute(
                update(IncidentRow).where(IncidentRow.id == incident_id).values(**values)
            )

    # --- history ------------------------------------------------------------------------

    async def write_behind(
        self, records: list[CheckRecord], states: dict[int, WatchUpdate]
    ) -> None:
        """Write a batch of check results and watch counters in one transaction."""
        if not records and not states:
            return
        async with self.session.begin() as session:
            if records:
                await session.execute(
                    insert(CheckRow),
                    [
                        {
                            "watch_id": r.watch_id,
                            "at": r.at,
                            "status": r.status,
                            "cause": r.cause,
                            "http_status": r.http_status,
                            "duration_ms": r.duration_ms,
                        }
                        for r in records
                    ],
                )
            if states:  # one executemany UPDATE by primary key
                await session.execute(
                    update(WatchRow),
                    [{"id": watch_id, **u.values()} for watch_id, u in states.items()],
                )

    async def availability(self, watch_ids: list[int], since: datetime) -> dict[int, float]:
        """Share of healthy checks per watch since `since` (watches without checks omitted)."""
        if not watch_ids:
            return {}
        healthy = func.sum(func.cast(CheckRow.status == "healthy", Integer))
        async with self.session() as session:
            rows = await session.execute(
                select(CheckRow.watch_id, healthy, func.count())
                .where(CheckRow.watch_id.in_(watch_ids), CheckRow.at >= since)
                .group_by(CheckRow.watch_id)
            )
            return {watch_id: (ok or 0) / total for watch_id, ok, total in rows if total}

    async def hourly_availability(
        self, watch_ids: list[int], now: datetime, hours: int = 24
    ) -> dict[int, tuple[float | None, ...]]:
        """Share of healthy checks per watch for each of the last `hours` hours, oldest first."""
        if not watch_ids:
            return {}
        since = now - timedelta(hours=hours)
        edges = [since + timedelta(hours=h) for h in range(hours)] + [now + timedelta(days=1)]
        healthy = CheckRow.status == "healthy"
        columns = []
        for start, end in itertools.pairwise(edges):  # one pass, a pair of sums an hour
            inside = (CheckRow.at >= start) & (CheckRow.at < end)
            columns.append(func.sum(case((inside, 1), else_=0)))
            columns.append(func.sum(case((inside & healthy, 1), else_=0)))
        found: dict[int, tuple[float | None, ...]] = {w: (None,) * hours for w in watch_ids}
        async with self.session() as session:
            rows = await session.execute(
                select(CheckRow.watch_id, *columns)
                .where(CheckRow.watch_id.in_(watch_ids), CheckRow.at >= since)
                .group_by(CheckRow.watch_id)
            )
            for watch_id, *sums in rows:
                found[watch_id] = tuple(
                    (sums[2 * h + 1] or 0) / sums[2 * h] if sums[2 * h] else None
                    for h in range(hours)
                )
        return found

    async def prune_history(self, now: datetime) -> int:
        async with self.session.begin() as session:
            result = await session.execute(delete(CheckRow).where(CheckRow.at < now - HISTORY_KEEP))
            return int(getattr(result, "rowcount", 0) or 0)


Store = SqlStore  # the name the bot and its tests construct: the SQL store
