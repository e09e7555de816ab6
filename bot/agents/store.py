"""The agents' rows, through the bot's database engine: jobs, contacts and request nonces.

Every replica shares them: a job written by one is handed out by whichever
replica an agent polls, and its result is read back by the one that asked.
SQLAlchemy Core on the engine's connections (no ORM unit of work): each call is
one or two statements, on the path of every job.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.agents.rows import AgentContactRow, AgentJobRow, AgentNonceRow

KEEP_JOBS = timedelta(hours=1)
JOBS = cast(Table, AgentJobRow.__table__)
CONTACTS = cast(Table, AgentContactRow.__table__)
NONCES = cast(Table, AgentNonceRow.__table__)


@dataclass(frozen=True)
class Contact:
    agent: str
    version: str
    place: str
    last_seen: datetime
    silent_told: bool


@dataclass(frozen=True)
class StoredJob:
    id: str
    payload: str
    signature: str


class AgentStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        # SQLite has one writer: writes wait their turn here rather than fail "locked"
        sqlite = engine.dialect.name == "sqlite"
        self._writing: contextlib.AbstractAsyncContextManager[object] = (
            asyncio.Lock() if sqlite else contextlib.nullcontext()
        )
        self._nonces: dict[tuple[str, str], datetime] | None = {} if sqlite else None

    def _first_in_memory(self, agent: str, nonce: str, expires: datetime) -> bool:
        assert self._nonces is not None
        if len(self._nonces) > 100_000 or len(self._nonces) % 1000 == 999:
            now = datetime.now(UTC)
            self._nonces = {k: t for k, t in self._nonces.items() if t > now}
        if (agent, nonce) in self._nonces:
            return False
        self._nonces[(agent, nonce)] = expires
        return True

    async def first_nonce(self, agent: str, nonce: str, expires: datetime) -> bool:
        """Record a request's nonce; False when this agent sent it before (a replay).

        With SQLite one process owns the database (bot/watch/fleet.py), so its memory is
        the whole truth and saves a write per request; replicas share PostgreSQL's table.
        """
        if self._nonces is not None:
            return self._first_in_memory(agent, nonce, expires)
        try:
            async with self._writing, self.engine.begin() as db:
                await db.execute(
                    insert(NONCES).values(agent=agent, nonce=nonce, expires_at=expires)
                )
        except IntegrityError:
            return False
        return True

    async def seen(self, agent: str, version: str, place: str, at: datetime) -> None:
        values = {"version": version, "place": place, "last_seen": at, "silent_told": False}
        async with self._writing, self.engine.begin() as db:
            changed = await db.execute(
                update(CONTACTS).where(CONTACTS.c.agent == agent).values(**values)
            )
            if not changed.rowcount:
                await db.execute(insert(CONTACTS).values(agent=agent, **values))

    async def contacts(self) -> list[Contact]:
        async with self.engine.connect() as db:
            rows = await db.execute(
                select(
                    CONTACTS.c.agent,
                    CONTACTS.c.version,
                    CONTACTS.c.place,
                    CONTACTS.c.last_seen,
                    CONTACTS.c.silent_told,
                )
            )
            return [Contact(a, v, p, seen, bool(told)) for a, v, p, seen, told in rows]

    async def told_silent(self, agent: str) -> bool:
        """Mark an agent's silence as told; False when another replica told it already."""
        async with self._writing, self.engine.begin() as db:
            result = await db.execute(
                update(CONTACTS)
                .where(CONTACTS.c.agent == agent, CONTACTS.c.silent_told.is_(False))
                .values(silent_told=True)
            )
        return bool(result.rowcount)

    async def add_jobs(self, jobs: list[tuple[str, str, str, str, datetime, datetime]]) -> None:
        """(id, agent, payload, signature, created, expires) each."""
        if not jobs:
            return
        rows = [
            {
                "id": job_id,
                "agent": agent,
                "payload": payload,
                "signature": signature,
                "created_at": created,
                "expires_at": expires,
            }
            for job_id, agent, payload, signature, created, expires in jobs
        ]
        async with self._writing, self.engine.begin() as db:
            await db.execute(insert(JOBS), rows)

    async def take(self, agent: str, now: datetime) -> list[StoredJob]:
        """This agent's jobs not yet handed out and not expired, marked taken in the same
        statement (UPDATE … RETURNING), so no two replicas hand out one job."""
        async with self._writing, self.engine.begin() as db:
            rows = await db.execute(
                update(JOBS)
                .where(
                    JOBS.c.agent == agent,
                    JOBS.c.taken_at.is_(None),
                    JOBS.c.expires_at > now,
                )
                .values(taken_at=now)
                .returning(JOBS.c.id, JOBS.c.payload, JOBS.c.signature)
            )
            return [StoredJob(job_id, payload, signature) for job_id, payload, signature in rows]

    async def finish(self, agent: str, job_id: str, result: str, now: datetime) -> str:
        """Store a result: "ok", or why not ("unknown", "done", "expired")."""
        async with self._writing, self.engine.begin() as db:
            stored = await db.execute(
                update(JOBS)
                .where(
                    JOBS.c.id == job_id,
                    JOBS.c.agent == agent,
                    JOBS.c.taken_at.is_not(None),
                    JOBS.c.done_at.is_(None),
                    JOBS.c.expires_at > now,
                )
                .values(result=result, done_at=now)
            )
            if stored.rowcount:
                return "ok"
            row = (  # why not: the rare path
                await db.execute(
                    select(JOBS.c.agent, JOBS.c.taken_at, JOBS.c.done_at).where(JOBS.c.id == job_id)
                )
            ).first()
        if row is None or row.agent != agent or row.taken_at is None:
            return "unknown"
        return "done" if row.done_at is not None else "expired"

    async def results(self, job_ids: list[str]) -> dict[str, str]:
        async with self.engine.connect() as db:
            rows = await db.execute(
                select(JOBS.c.id, JOBS.c.result).where(
                    JOBS.c.id.in_(job_ids), JOBS.c.result.is_not(None)
                )
            )
            return {job_id: result for job_id, result in rows if result is not None}

    async def prune(self, now: datetime) -> None:
        async with self._writing, self.engine.begin() as db:
            await db.execute(delete(NONCES).where(NONCES.c.expires_at < now))
            await db.execute(delete(JOBS).where(JOBS.c.created_at < now - KEEP_JOBS))


def utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
