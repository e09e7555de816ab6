"""The agents' rows, through the bot's database engine: jobs, contacts and request nonces.

Every replica shares them: a job written by one is handed out by whichever
replica an agent polls, and its result is read back by the one that asked.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from bot.agents.rows import AgentContactRow, AgentJobRow, AgentNonceRow

KEEP_JOBS = timedelta(hours=1)


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
        self.session = async_sessionmaker(engine, expire_on_commit=False)
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
            async with self._writing, self.session.begin() as session:
                session.add(AgentNonceRow(agent=agent, nonce=nonce, expires_at=expires))
        except IntegrityError:
            return False
        return True

    async def seen(self, agent: str, version: str, place: str, at: datetime) -> None:
        async with self._writing, self.session.begin() as session:
            row = await session.get(AgentContactRow, agent)
            if row is None:
                session.add(
                    AgentContactRow(
                        agent=agent, version=version, place=place, last_seen=at, silent_told=False
                    )
                )
            else:
                row.version, row.place, row.last_seen, row.silent_told = version, place, at, False

    async def contacts(self) -> list[Contact]:
        async with self.session() as session:
            rows = (await session.scalars(select(AgentContactRow))).all()
        return [
            Contact(r.agent, r.version, r.place, r.last_seen, bool(r.silent_told)) for r in rows
        ]

    async def told_silent(self, agent: str) -> bool:
        """Mark an agent's silence as told; False when another replica told it already."""
        async with self._writing, self.session.begin() as session:
            result = await session.execute(
                update(AgentContactRow)
                .where(AgentContactRow.agent == agent, AgentContactRow.silent_told.is_(False))
                .values(silent_told=True)
            )
        return bool(getattr(result, "rowcount", 0))

    async def add_jobs(self, jobs: list[tuple[str, str, str, str, datetime, datetime]]) -> None:
        """(id, agent, payload, signature, created, expires) each."""
        async with self._writing, self.session.begin() as session:
            for job_id, agent, payload, signature, created, expires in jobs:
                session.add(
                    AgentJobRow(
                        id=job_id,
                        agent=agent,
                        payload=payload,
                        signature=signature,
                        created_at=created,
                        expires_at=expires,
                    )
                )

    async def take(self, agent: str, now: datetime) -> list[StoredJob]:
        """This agent's jobs not yet handed out and not expired, marked taken in the same
        statement (UPDATE … RETURNING), so no two replicas hand out one job."""
        async with self._writing, self.session.begin() as session:
            rows = await session.execute(
                update(AgentJobRow)
                .where(
                    AgentJobRow.agent == agent,
                    AgentJobRow.taken_at.is_(None),
                    AgentJobRow.expires_at > now,
                )
                .values(taken_at=now)
                .returning(AgentJobRow.id, AgentJobRow.payload, AgentJobRow.signature)
            )
            return [StoredJob(job_id, payload, signature) for job_id, payload, signature in rows]

    async def finish(self, agent: str, job_id: str, result: str, now: datetime) -> str:
        """Store a result: "ok", or why not ("unknown", "done", "expired")."""
        async with self._writing, self.session.begin() as session:
            stored = await session.execute(
                update(AgentJobRow)
                .where(
                    AgentJobRow.id == job_id,
                    AgentJobRow.agent == agent,
                    AgentJobRow.taken_at.is_not(None),
                    AgentJobRow.done_at.is_(None),
                    AgentJobRow.expires_at > now,
                )
                .values(result=result, done_at=now)
            )
            if getattr(stored, "rowcount", 0):
                return "ok"
            row = await session.get(AgentJobRow, job_id)  # why not: the rare path
        if row is None or row.agent != agent or row.taken_at is None:
            return "unknown"
        return "done" if row.done_at is not None else "expired"

    async def results(self, job_ids: list[str]) -> dict[str, str]:
        async with self.session() as session:
            rows = await session.execute(
                select(AgentJobRow.id, AgentJobRow.result).where(
                    AgentJobRow.id.in_(job_ids), AgentJobRow.result.is_not(None)
                )
            )
            return {job_id: result for job_id, result in rows if result is not None}

    async def prune(self, now: datetime) -> None:
        async with self._writing, self.session.begin() as session:
            await session.execute(delete(AgentNonceRow).where(AgentNonceRow.expires_at < now))
            await session.execute(
                delete(AgentJobRow).where(AgentJobRow.created_at < now - KEEP_JOBS)
            )


def utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
