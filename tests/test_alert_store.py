"""The store's alerting queries on SQLite, on a real PostgreSQL and in memory: the Home
tab's hourly strip and the alarm clock's open incidents. One contract, three stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.migrations import open_migrated
from bot.watch.memory import MemoryStore
from bot.watch.records import IncidentUpdate, NewIncident, Store
from bot.watch.store import CheckRecord
from tests.servers.postgres import PostgresServer
from tests.specs import stored_spec


@pytest.fixture(scope="module")
def postgres():
    with PostgresServer(timezone="Pacific/Chatham") as server:  # far from UTC on purpose
        yield server


@pytest.fixture(params=["sqlite", "postgresql", "memory"])
def database_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/alerts.sqlite3"
    if request.param == "memory":
        return "memory"
    return request.getfixturevalue("postgres").create_database(f"alerts_{tmp_path.name[-12:]}")


async def _store(url: str) -> Store:
    return await MemoryStore().open() if url == "memory" else await open_migrated(url)


async def test_hourly_availability_and_open_incidents_in_one_query_each(database_url):
    now = datetime(2026, 11, 25, 16, 30, tzinfo=UTC)
    store = await _store(database_url)
    try:
        ids = []
        for i in range(3):
            row, _ = await store.upsert_watch(
                team="T1",
                channel="C1",
                spec=stored_spec(f"https://{i}.test/", f"{i}.test", 60, 2),
                created_by="U1",
                now=now,
            )
            ids.append(row.id)
        a, b, quiet = ids

        def check(watch_id: int, ago: timedelta, status: str) -> CheckRecord:
            return CheckRecord(watch_id, now - ago, status, "x", 200, 10.0)

        await store.write_behind(
            [
                check(a, timedelta(minutes=10), "healthy"),
                check(a, timedelta(minutes=50), "down"),
                check(a, timedelta(hours=2, minutes=5), "healthy"),
                check(a, timedelta(hours=23, minutes=30), "down"),
                check(a, timedelta(hours=30), "down"),  # older than the strip
                check(b, timedelta(minutes=5), "down"),
            ],
            {},
        )
        strips = await store.hourly_availability(ids, now)
        assert len(strips[a]) == 24
        assert strips[a][23] == 0.5 and strips[a][21] == 1.0 and strips[a][0] == 0.0
        assert [i for i, s in enumerate(strips[a]) if s is not None] == [0, 21, 23]
        assert strips[b][23] == 0.0 and strips[quiet] == (None,) * 24
        assert await store.hourly_availability([], now) == {}

        first = await store.create_incident(
            NewIncident(
                watch_id=a, channel="C1", failing_since=now, diagnosis_key="k", last_summary="s"
            )
        )
        await store.update_incident(first.id, IncidentUpdate(resolved_at=now))
        again = await store.create_incident(
            NewIncident(
                watch_id=a, channel="C1", failing_since=now, diagnosis_key="k", last_summary="s"
            )
        )
        other = await store.create_incident(
            NewIncident(
                watch_id=b, channel="C1", failing_since=now, diagnosis_key="k", last_summary="s"
            )
        )
        found = await store.open_incidents_of(ids)
        assert {w: i.id for w, i in found.items()} == {a: again.id, b: other.id}
    finally:
        await store.close()
