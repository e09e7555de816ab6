"""The schema's history, run by Alembic: `upgrade` brings any earlier database to head.

`gateway serve`, `gateway shell` and `gateway db upgrade` call it on start. A
database made before Alembic owned the schema (by `create_all`, with no
`alembic_version` table) holds exactly the first revision's tables, so it is
stamped with that revision and upgraded from there. On PostgreSQL the upgrade
runs under an advisory lock, so replicas starting together migrate once.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.watch.records import Store
from bot.watch.store import SqlStore

log = logging.getLogger(__name__)

FIRST = "0001"  # the schema `create_all` made before Alembic owned it
LEGACY_TABLES = frozenset({"watches", "incidents", "checks"})
LEGACY_COLUMNS = {  # what revision 0001 holds (a few telling columns of each table)
    "watches": {"id", "team", "channel", "url", "interval_s", "state", "failures"},
    "incidents": {"id", "watch_id", "failing_since", "announced_at", "alert_ts"},
    "checks": {"id", "watch_id", "at", "status", "cause"},
}
MIGRATION_LOCK = 0x6761_7465_0001  # pg_advisory_xact_lock key: one migrating replica


def config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for the revisions shipped in this package."""
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent))
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    return ScriptDirectory.from_config(config()).get_current_head() or ""


def current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


class ForeignTables(InvalidRequestError):
    """The database holds tables of our names that the bot did not make."""


def _upgrade(connection: Connection) -> tuple[str | None, str]:
    cfg = config(connection)
    inspector = inspect(connection)
    tables = set(inspector.get_table_names())
    before = current(connection)
    if before is None and tables & LEGACY_TABLES:  # made by create_all, or not ours
        for table, columns in LEGACY_COLUMNS.items():
            found = {c["name"] for c in inspector.get_columns(table)} if table in tables else set()
            if not columns <= found:
                raise ForeignTables(
                    f"the table {table} here holds tables of another program (or another "
                    "version) under the same names"
                )
        command.stamp(cfg, FIRST)
        before = "create_all"
    command.upgrade(cfg, "head")
    now = current(connection) or ""
    if before != now:
        log.info("database schema upgraded from %s to revision %s", before or "nothing", now)
    return before, now


async def upgrade(engine: AsyncEngine) -> tuple[str | None, str]:
    """Bring the database to the newest revision; (revision before, revision now)."""
    async with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            await connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        return await connection.run_sync(_upgrade)


async def opened(store: Store) -> Store:
    """The store, connected, with its schema at the newest revision: what start-up does.
    (A store in memory has no schema.)"""
    await store.open()
    if isinstance(store, SqlStore):
        await upgrade(store.engine)
    return store


async def open_migrated(url: str) -> SqlStore:
    """A SQL store for `url`, connected and up to date."""
    store = SqlStore(url)
    await opened(store)
    return store


async def upgrade_url(url: str) -> str:
    """`gateway db upgrade`: upgrade the database at `url`; one line saying what happened."""
    store = await SqlStore(url).open()
    try:
        before, now = await upgrade(store.engine)
    finally:
        await store.close()
    if before == now:
        return f"database already at revision {now} (the newest)"
    was = {None: "a new database", "create_all": "made before migrations"}.get(before, before)
    return f"database at revision {now} ({was})"
