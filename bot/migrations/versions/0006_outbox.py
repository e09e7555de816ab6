"""Escalations survive a kill -9, and an incident's outside identity is never reused.

`escalation_outbox` holds each PagerDuty or webhook event from the moment it is
decided until it is delivered; `incidents.key` is a random key for the dedup key
(SQLite hands a deleted incident's id to the next one). Existing incidents get a
key of their own; what they already escalated keeps its recorded reference.

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("incidents", sa.Column("key", sa.String(length=32), nullable=True))
    connection = op.get_bind()
    ids = [row[0] for row in connection.execute(sa.text("SELECT id FROM incidents"))]
    for incident_id in ids:
        connection.execute(
            sa.text("UPDATE incidents SET key = :key WHERE id = :id"),
            {"key": uuid.uuid4().hex, "id": incident_id},
        )
    op.create_table(
        "escalation_outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("ref", sa.String(length=200), nullable=False),
        sa.Column("alert", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("escalation_outbox")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("key")
