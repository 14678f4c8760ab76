"""purge log: the purges every replica applies to its own disk cache

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 11:15:00.000000
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
        "purge_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sqlite_autoincrement=True,  # ids never reused after a prune: replicas remember the last one applied
    )
    op.create_index("ix_purge_log_at", "purge_log", ["at"])


def downgrade() -> None:
    op.drop_index("ix_purge_log_at", "purge_log")
    op.drop_table("purge_log")
