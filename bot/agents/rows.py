"""The agents' tables: jobs (so any replica answers any agent), contacts, request nonces.

Declared on the watches' `Base`, so one Alembic history (revision 0008) and one
schema comparison (tests/test_migrations.py) cover them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.watch.store import Base, UTCDateTime


class AgentJobRow(Base):
    __tablename__ = "agent_jobs"
    __table_args__ = (Index("ix_agent_jobs_agent_taken", "agent", "taken_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)  # the signed job, as the agent receives it
    signature: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    result: Mapped[str | None] = mapped_column(Text, nullable=True)  # the agent's JSON, bounded


class AgentContactRow(Base):
    __tablename__ = "agent_contacts"

    agent: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[str] = mapped_column(String(64), default="")
    place: Mapped[str] = mapped_column(String(120), default="")
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    silent_told: Mapped[bool] = mapped_column(Boolean, default=False)


class AgentNonceRow(Base):
    __tablename__ = "agent_nonces"

    agent: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
