"""`gateway incident show ID [--markdown]`: an incident's record in a terminal.

ID is the number `/gateway timeline SITE all` lists, or the record's uid. It reads the bot's
database (GATEWAY_DATABASE_URL) and never creates one: a missing file is one line.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.record.model import Record
from bot.record.store import RecordStore
from bot.record.timeline import tally_line
from bot.render.postmortem import draft
from bot.render.timeline import TEXT, headline, lines
from bot.watch.store import async_url


class RecordNotFound(LookupError):
    """The record asked for is not there; the message says why in one line."""


def check_database(url: str) -> None:
    """A SQLite file that is not there is one line (and is not created by reading it)."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.drivername.startswith("sqlite") and database and not Path(database).is_file():
        raise RecordNotFound(f"no database at {database} (GATEWAY_DATABASE_URL)")


async def find(url: str, ident: str) -> Record:
    engine = create_async_engine(async_url(url))
    try:
        async with engine.connect() as db:
            tables = await db.run_sync(lambda c: set(inspect(c).get_table_names()))
        if "incident_records" not in tables:
            raise RecordNotFound("this database holds no incident records yet")
        store = RecordStore(engine)
        ident = ident.strip()
        if ident.isdigit() and len(ident) < 12:
            record = await store.record(int(ident))
        else:
            record = await store.by_uid(ident[:36])
    finally:
        await engine.dispose()
    if record is None:
        raise RecordNotFound(f"no incident {ident[:40]!r} is recorded")
    return record


def as_text(record: Record) -> str:
    """The timeline as plain lines, for a terminal."""
    out = [f"Incident #{record.id} ({record.uid})", headline(record, TEXT), ""]
    out += [f"  {line}" for line in lines(record, TEXT)]
    out += ["", tally_line(record.tally)]
    return "\n".join(out) + "\n"


def show(record: Record, markdown: bool) -> str:
    return draft(record) if markdown else as_text(record)
