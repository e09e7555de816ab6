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
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

FIRST = "0001"  # the schema `create_all` made before Alembic owned it
LEGACY_TABLES = frozenset({"watches", "incidents", "checks"})
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


def _upgrade(connection: Connection) -> tuple[str | None, str]:
    cfg = config(connection)
    tables = set(inspect(connection).get_table_names())
    before = current(connection)
    if before is None and tables >= LEGACY_TABLES:  # made by create_all: adopt it
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


async def upgrade_url(url: str) -> str:
    """`gateway db upgrade`: upgrade the database at `url`; one line saying what happened."""
    from bot.watch.store import Store

    store = Store(url)
    try:
        if store.engine.dialect.name == "sqlite":
            async with store.engine.begin() as connection:
                await connection.exec_driver_sql("PRAGMA journal_mode=WAL")
        before, now = await upgrade(store.engine)
    finally:
        await store.close()
    if before == now:
        return f"database already at revision {now} (the newest)"
    was = {None: "a new database", "create_all": "made before migrations"}.get(before, before)
    return f"database at revision {now} ({was})"
