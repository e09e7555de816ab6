"""Alembic owns the schema: a database made before it (by `create_all`), with watches,
incidents and history in it, is brought to the newest revision with nothing lost, on
SQLite and on a real PostgreSQL; the models and the revisions describe the same schema.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.migrations import head, open_migrated
from bot.watch.store import Base, async_url
from tests.conftest import run_cli
from tests.servers.postgres import PostgresServer
from tests.specs import stored_spec

DATA = Path(__file__).parent / "data"
_databases = itertools.count(1)
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def postgres():
    with PostgresServer() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/gateway.sqlite3"
    return request.getfixturevalue("postgres").create_database(f"mig_{next(_databases)}")


async def _execute(url: str, statements: list[str], params: list[dict] | None = None) -> None:
    engine = create_async_engine(async_url(url))
    try:
        async with engine.begin() as connection:
            for index, statement in enumerate(statements):
                values = (params or [])[index] if params and index < len(params) else {}
                await connection.execute(text(statement), values)
    finally:
        await engine.dispose()


async def _make_old_database(url: str) -> None:
    """A database exactly as today's `create_all` made it, with a watch mid-incident."""
    dialect = url.split(":", 1)[0]
    schema = (DATA / f"schema-before-alembic.{dialect}.sql").read_text()
    schema = "\n".join(line for line in schema.splitlines() if not line.startswith("--"))
    statements = [s for s in schema.split(";") if s.strip()]
    rows = [
        "INSERT INTO watches (id, team, channel, url, target_input, interval_s, fail_after,"
        " recover_after, created_by, created_at, state, failures, successes, failing_since,"
        " last_checked_at, muted_until, cert_warned) VALUES (7, 'T1', 'C1',"
        " 'https://shop.example/', 'shop.example', 60, 2, 2, 'U1', :created, 'down', 5, 0,"
        " :failing, :checked, :muted, 'CN=shop|2026-12-01')",
        "INSERT INTO incidents (id, watch_id, channel, failing_since, announced_at, alert_ts,"
        " diagnosis_key, last_summary, excerpt, failure_count, flaps, acknowledged_by)"
        " VALUES (3, 7, 'C1', :failing, :failing, '1700000000.000100',"
        " '502|upstream_refused|nginx', 'nginx answered 502', '<h1>502</h1>', 5, 1, 'U9')",
        "INSERT INTO checks (watch_id, at, status, cause, http_status, duration_ms)"
        " VALUES (7, :checked, 'problem', 'upstream_refused', 502, 12.5)",
        "INSERT INTO checks (watch_id, at, status, cause, http_status, duration_ms)"
        " VALUES (7, :failing, 'healthy', 'ok', 200, 8.0)",
    ]
    times = {
        "created": NOW - timedelta(days=3),
        "failing": NOW - timedelta(minutes=10),
        "checked": NOW - timedelta(minutes=1),
        "muted": NOW + timedelta(hours=1),
    }
    if dialect == "sqlite":  # SQLite stores what UTCDateTime would bind: naive UTC text
        times = {k: v.replace(tzinfo=None).isoformat(sep=" ") for k, v in times.items()}
    await _execute(url, statements)
    await _execute(url, rows, [times, times, times, times])
    if dialect == "postgresql":  # the ids above were given; let new rows follow them
        await _execute(
            url,
            [
                f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))"
                for table in ("watches", "incidents", "checks")
            ],
        )


async def _revision(url: str) -> str | None:
    engine = create_async_engine(async_url(url))
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(
                lambda c: MigrationContext.configure(c).get_current_revision()
            )
    finally:
        await engine.dispose()


async def test_a_database_made_before_alembic_is_upgraded_with_nothing_lost(database_url):
    await _make_old_database(database_url)
    store = await open_migrated(database_url)
    try:
        (watch,) = await store.watches()
        assert (watch.id, watch.channel, watch.url, watch.state, watch.failures) == (
            7,
            "C1",
            "https://shop.example/",
            "down",
            5,
        )
        assert watch.failing_since == NOW - timedelta(minutes=10)
        assert watch.muted_until == NOW + timedelta(hours=1)
        assert watch.cert_warned == "CN=shop|2026-12-01"
        incident = await store.open_incident(7)
        assert incident is not None and incident.id == 3
        assert (incident.alert_ts, incident.acknowledged_by, incident.flaps) == (
            "1700000000.000100",
            "U9",
            1,
        )
        assert await store.availability([7], NOW - timedelta(days=1)) == {7: 0.5}
        # and the upgraded database takes new rows as before
        row, created = await store.upsert_watch(
            team="T1",
            channel="C1",
            spec=stored_spec("https://other.example/", "other.example", 60, 2),
            created_by="U1",
            now=NOW,
        )
        assert created and row.id == 8
    finally:
        await store.close()
    assert await _revision(database_url) == head()


async def test_opening_again_changes_nothing_and_a_new_database_starts_at_head(database_url):
    for _ in range(2):
        store = await open_migrated(database_url)
        await store.close()
    assert await _revision(database_url) == head()


async def test_the_revisions_build_exactly_the_schema_the_models_describe(database_url):
    """A model change without its revision (README, "Changing the schema") fails here."""
    store = await open_migrated(database_url)
    try:
        async with store.engine.connect() as connection:
            differences = await connection.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata
                )
            )
    finally:
        await store.close()
    assert differences == []


def test_gateway_db_upgrade_says_which_revision_the_database_is_at(tmp_path):
    url = f"sqlite:///{tmp_path}/gateway.sqlite3"
    first = run_cli("db", "upgrade", env={"GATEWAY_DATABASE_URL": url})
    assert first.code == 0, first.stderr
    assert f"at revision {head()}" in first.stdout and "new database" in first.stdout
    again = run_cli("db", "upgrade", env={"GATEWAY_DATABASE_URL": url})
    assert again.code == 0 and "already" in again.stdout


def test_gateway_db_upgrade_with_an_unreachable_database_is_one_line(tmp_path):
    result = run_cli(
        "db", "upgrade", env={"GATEWAY_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    )
    assert result.code == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "nothing accepts connections there" in result.stderr
