"""The incident record: a header per incident and its events, kept apart from the watches.

`unwatch` deletes a watch and its incidents; the record stays (no foreign key to the watch)
until GATEWAY_KEEP_INCIDENTS has passed since it ended.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incident_records",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("uid", sa.String(36), nullable=False, unique=True),
        sa.Column("incident_key", sa.String(120), nullable=False, unique=True),
        sa.Column("team", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("url", sa.String(2100), nullable=False),
        sa.Column("host", sa.String(300), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("alert_ts", sa.String(32), nullable=True),
        sa.Column("recovered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tally", sa.Text, nullable=False),
        sa.Column("events", sa.Integer, nullable=False),
    )
    op.create_index("records_of_site", "incident_records", ["team", "channel", "url", "started_at"])
    op.create_table(
        "incident_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "record_id",
            sa.Integer,
            sa.ForeignKey("incident_records.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("actor", sa.String(32), nullable=True),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_index("ix_incident_events_record_id", "incident_events", ["record_id"])


def downgrade() -> None:
    op.drop_table("incident_events")
    op.drop_table("incident_records")
