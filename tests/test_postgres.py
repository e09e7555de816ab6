"""The watches' storage on a real PostgreSQL server, chosen by the same URL setting a user
sets (`GATEWAY_DATABASE_URL=postgresql://…`): the store on its own, then a watch that
alerts, survives a restart of the bot and recovers, as tests/test_watch.py does on SQLite.

The server (tests/servers/postgres.py) is a throwaway cluster on a loopback port, one per
module; every test gets a database of its own on it. The server runs in a far-off time
zone, so nothing may lean on the server's zone matching UTC.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from bot.migrations import open_migrated
from bot.watch.records import IncidentUpdate, NewIncident, WatchUpdate
from bot.watch.store import (
    HISTORY_KEEP,
    MAX_WATCHES_PER_CHANNEL,
    CheckRecord,
    CheckRow,
    IncidentRow,
    Store,
    StoreError,
    WatchRow,
)
from tests.servers.misbehave import Behaviour, serve
from tests.servers.postgres import PostgresServer
from tests.specs import stored_spec
from tests.test_watch import INTERVAL, NGINX_502, Watcher, restart_mid_incident

SERVER_ZONE = "Pacific/Chatham"  # UTC+12:45 / +13:45
_databases = itertools.count(1)


@pytest.fixture(scope="module")
def postgres():
    with PostgresServer(timezone=SERVER_ZONE) as server:
        yield server


@pytest.fixture
def database_url(postgres: PostgresServer) -> str:
    """A fresh, empty database for this test, as a user would write its URL."""
    return postgres.create_database(f"test_{next(_databases)}")


async def _count(store: Store, table, *where) -> int:
    async with store.session() as session:
        query = select(func.count()).select_from(table)
        return (await session.execute(query.where(*where) if where else query)).scalar_one()


async def _watch(
    store: Store,
    channel: str,
    url: str,
    now: datetime,
    interval_s: float = 60.0,
    fail_after: int = 2,
) -> tuple[WatchRow, bool]:
    return await store.upsert_watch(
        team="T1",
        channel=channel,
        spec=stored_spec(url, url, interval_s, fail_after),
        created_by="U1",
        now=now,
    )


async def test_the_store_works_on_postgresql(database_url: str):
    assert database_url.startswith("postgresql://")
    store = await open_migrated(database_url)
    try:
        assert (store.engine.dialect.name, store.engine.dialect.driver) == ("postgresql", "asyncpg")
        async with store.engine.connect() as connection:  # the far-off zone is in force
            zone = (await connection.exec_driver_sql("SHOW timezone")).scalar_one()
        assert zone == SERVER_ZONE
        now = datetime.now(UTC)

        # watches: created, then changed in place
        row, created = await _watch(store, "C1", "https://a.test/", now)
        assert created and row.id
        again, created = await _watch(store, "C1", "https://a.test/", now, 300.0, 3)
        assert not created and again.id == row.id
        stored = await store.watch(row.id)
        assert (stored.interval_s, stored.fail_after, stored.state) == (300.0, 3, "healthy")
        assert stored.created_at == now and stored.created_at.tzinfo is not None
        assert stored.failing_since is None and stored.muted_until is None
        assert (await store.find_watch("C1", "https://a.test/")).id == row.id

        # at most 50 in a channel; others are not affected
        for i in range(1, MAX_WATCHES_PER_CHANNEL):
            await _watch(store, "C1", f"https://site{i}.test/", now)
        with pytest.raises(StoreError, match="the most it may"):
            await _watch(store, "C1", "https://one-too-many.test/", now)
        assert len(await store.watches("C1")) == MAX_WATCHES_PER_CHANNEL
        _, created = await _watch(store, "C1", "https://a.test/", now, 120.0)
        assert not created, "changing a watch of a full channel is still allowed"
        other, created = await _watch(store, "C2", "https://a.test/", now)
        assert created and other.id != row.id

        # an incident: the datetimes come back as the same instants, aware, in UTC
        india = timezone(timedelta(hours=5, minutes=30))
        failing_since = datetime(2024, 3, 31, 1, 30, 15, 123456, tzinfo=india)
        incident = await store.create_incident(
            NewIncident(
                watch_id=row.id,
                channel="C1",
                failing_since=failing_since,
                diagnosis_key="502|upstream_refused|nginx",
                last_summary="nginx answered 502",
                excerpt="502 Bad Gateway — nginx/1.22.1 «ünïcödé»",
                failure_count=2,
            )
        )
        assert incident.id
        announced = now - timedelta(minutes=3)
        await store.update_incident(
            incident.id,
            IncidentUpdate(
                announced_at=announced, alert_ts="1700000000.000100", acknowledged_by="U7"
            ),
        )
        opened = await store.open_incident(row.id)
        assert opened is not None and opened.id == incident.id
        assert opened.failing_since == failing_since and opened.failing_since.utcoffset() == (
            timedelta(0)
        )
        assert opened.announced_at == announced and opened.announced_at.tzinfo is not None
        assert (opened.alert_ts, opened.acknowledged_by) == ("1700000000.000100", "U7")
        assert opened.excerpt == "502 Bad Gateway — nginx/1.22.1 «ünïcödé»"
        assert (opened.flaps, opened.recovered_at, opened.resolved_at) == (0, None, None)
        await store.update_incident(incident.id, IncidentUpdate(resolved_at=now, recovered_at=now))
        assert await store.open_incident(row.id) is None
        last = await store.last_incident(row.id)
        assert last.id == incident.id and last.resolved_at == now
        assert (await store.incident(incident.id)).recovered_at == now

        # write-behind: a batch of checks and counters in one go
        def check(watch_id: int, ago: timedelta, status: str = "healthy") -> CheckRecord:
            return CheckRecord(
                watch_id=watch_id,
                at=now - ago,
                status=status,
                cause="ok" if status == "healthy" else "upstream_refused",
                http_status=200 if status == "healthy" else 502,
                duration_ms=12.5,
            )

        hours = [timedelta(hours=h) for h in (1, 2, 3, 23)]
        old = HISTORY_KEEP + timedelta(hours=1)
        records = [check(row.id, h) for h in hours[:3]] + [check(row.id, hours[3], "down")]
        records += [check(row.id, old, "down"), check(row.id, old + timedelta(days=1), "down")]
        records += [check(other.id, timedelta(minutes=5), "down")]
        down_since = now - timedelta(hours=23)
        await store.write_behind(
            records,
            {
                row.id: WatchUpdate(
                    **{
                        "state": "down",
                        "failures": 4,
                        "successes": 0,
                        "failing_since": down_since,
                        "last_checked_at": now,
                    }
                ),
                other.id: WatchUpdate(
                    **{
                        "state": "healthy",
                        "failures": 1,
                        "successes": 0,
                        "failing_since": None,
                        "last_checked_at": now,
                    }
                ),
            },
        )
        await store.write_behind([], {})  # nothing to write is fine
        assert await _count(store, CheckRow) == 7
        written = await store.watch(row.id)
        assert (written.state, written.failures, written.successes) == ("down", 4, 0)
        assert written.failing_since == down_since and written.last_checked_at == now
        assert (await store.watch(other.id)).failures == 1
        await store.update_watch(row.id, WatchUpdate(muted_until=now + timedelta(hours=1)))
        assert (await store.watch(row.id)).muted_until == now + timedelta(hours=1)

        # availability over 24 h: 3 of 4 healthy; 0 of 1; watches without checks left out
        lonely, _ = await _watch(store, "C2", "https://b.test/", now)
        share = await store.availability([row.id, other.id, lonely.id], now - timedelta(hours=24))
        assert share == {row.id: 0.75, other.id: 0.0}
        assert await store.availability([], now) == {}

        # pruning drops what is older than the history kept, nothing else
        assert await store.prune_history(now) == 2
        assert await _count(store, CheckRow) == 5
        assert await store.prune_history(now) == 0

        # deleting a watch takes its incidents and history with it
        await store.delete_watch(row.id)
        assert await store.watch(row.id) is None
        assert await _count(store, IncidentRow, IncidentRow.watch_id == row.id) == 0
        assert await _count(store, CheckRow, CheckRow.watch_id == row.id) == 0
        assert await _count(store, CheckRow, CheckRow.watch_id == other.id) == 1
        assert len(await store.watches()) == MAX_WATCHES_PER_CHANNEL - 1 + 2
    finally:
        await store.close()

    reopened = await open_migrated(database_url)  # the tables exist already: opening is fine
    try:
        assert await reopened.find_watch("C2", "https://a.test/") is not None
    finally:
        await reopened.close()


class PostgresWatcher(Watcher):
    """tests/test_watch.py's Watcher with GATEWAY_DATABASE_URL set to PostgreSQL."""

    def __init__(self, stand_in, tmp_path, database_url: str, **env: str) -> None:
        super().__init__(stand_in, tmp_path, GATEWAY_DATABASE_URL=database_url, **env)


async def test_a_restart_mid_incident_on_postgresql_repeats_nothing_and_loses_nothing(
    slack, tmp_path, database_url
):
    with serve(Behaviour.STATUS, **NGINX_502) as site:
        assert PostgresWatcher(slack, tmp_path, database_url).db.startswith("postgresql")
        alert = await restart_mid_incident(
            slack, lambda: PostgresWatcher(slack, tmp_path, database_url), site
        )

    store = await open_migrated(database_url)  # what PostgreSQL kept
    try:
        (watch,) = await store.watches()
        assert watch.url == site.url() and watch.state == "healthy"
        incident = await store.last_incident(watch.id)
        assert incident.alert_ts == alert["ts"] and incident.resolved_at is not None
        assert incident.resolved_at > incident.failing_since
        assert await _count(store, IncidentRow) == 1
        assert await _count(store, CheckRow, CheckRow.status != "healthy") >= 2
        assert await _count(store, CheckRow, CheckRow.status == "healthy") >= 2
    finally:
        await store.close()
    assert not list(tmp_path.glob("*.sqlite3*")), "no SQLite file on the side"


async def test_an_error_page_with_nul_bytes_alerts_on_postgresql(slack, tmp_path, database_url):
    body = "<html><body><h1>502 Bad Gateway</h1>\x00 binary junk</body></html>"
    with serve(Behaviour.STATUS, status=502, body=body) as site:
        bot = await PostgresWatcher(slack, tmp_path, database_url).start()
        try:
            await bot.command(f"watch {site.url()} every {INTERVAL}")
            await bot.until(lambda: bot.alerts())
        finally:
            await bot.stop()
