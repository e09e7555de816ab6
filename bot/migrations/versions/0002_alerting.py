"""Alerting: who a watch notifies, what it expects, who muted it and why; an incident's
reminders, escalation and deliveries besides Slack. Every column nullable: existing rows
read as "notify nobody, expect nothing beyond the defaults, never reminded or escalated".

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("watches", sa.Column("notify", sa.String(length=300), nullable=True))
    op.add_column("watches", sa.Column("expectations", sa.Text(), nullable=True))
    op.add_column("watches", sa.Column("muted_by", sa.String(length=32), nullable=True))
    op.add_column("watches", sa.Column("mute_reason", sa.String(length=300), nullable=True))
    op.add_column("incidents", sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("incidents", sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("incidents", sa.Column("deliveries", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("deliveries")
        batch.drop_column("escalated_at")
        batch.drop_column("reminded_at")
    with op.batch_alter_table("watches") as batch:
        batch.drop_column("mute_reason")
        batch.drop_column("muted_by")
        batch.drop_column("expectations")
        batch.drop_column("notify")
