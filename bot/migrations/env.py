"""Alembic's environment: run the revisions on the connection the bot hands over.

`bot.migrations.upgrade` passes its connection in `config.attributes["connection"]`;
the `alembic` command line (for writing a new revision, see README) builds one
from `GATEWAY_DATABASE_URL` instead.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from bot.settings import from_environment, load_environment
from bot.watch.store import Base, UTCDateTime, async_url

target_metadata = Base.metadata


def _render_item(kind: str, obj: Any, _context: AutogenContext) -> str | Literal[False]:
    """A new revision spells the store's UTC datetimes as plain SQLAlchemy: revisions must
    not import the models, which go on changing after them."""
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # ALTER TABLE, the SQLite way
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_from_url(url: str) -> None:
    engine = create_async_engine(async_url(url))
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


def _database_url() -> str:
    """The URL the bot's settings name (read the one way the bot reads them)."""
    return from_environment(load_environment()).database_url


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
elif context.is_offline_mode():
    context.configure(
        url=_database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_from_url(_database_url()))
