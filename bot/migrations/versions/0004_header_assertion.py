"""A watch may require a response header: `header NAME: VALUE`, in a column of its own.

Stored as the rule is written, `Name: value` (a header name holds no colon); nullable,
so every existing watch reads as "no header rule".

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("watches", sa.Column("header_assertion", sa.String(300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("watches") as batch:
        batch.drop_column("header_assertion")
