"""A watch row found unusable remembers, in a column of its own, that its channel was told.

It used to borrow `last_status` for that; the column is nullable, so existing rows read
as "not told yet" and are told once more at the next start if still unusable.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("watches", sa.Column("unusable_reported", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("watches") as batch:
        batch.drop_column("unusable_reported")
