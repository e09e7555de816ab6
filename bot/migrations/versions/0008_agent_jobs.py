"""Agents: their jobs (any replica answers any agent), their last contact, request nonces.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent_jobs",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("agent", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("signature", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_agent_jobs_agent_taken", "agent_jobs", ["agent", "taken_at"])
    op.create_table(
        "agent_contacts",
        sa.Column("agent", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("place", sa.String(length=120), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("silent_told", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("agent"),
    )
    op.create_table(
        "agent_nonces",
        sa.Column("agent", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("agent", "nonce"),
    )
    op.create_index("ix_agent_nonces_expires_at", "agent_nonces", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_agent_nonces_expires_at", table_name="agent_nonces")
    op.drop_table("agent_nonces")
    op.drop_table("agent_contacts")
    op.drop_index("ix_agent_jobs_agent_taken", table_name="agent_jobs")
    op.drop_table("agent_jobs")
