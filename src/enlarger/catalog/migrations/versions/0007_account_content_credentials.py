"""accounts.preserve_content_credentials: the account's Content Credentials choice for hosted images

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        # None: the server's c2pa_preserve decides; True/False: PATCH /images/v1/config decided
        batch_op.add_column(sa.Column("preserve_content_credentials", sa.Boolean(), nullable=True))


def downgrade() -> None:
    # a plain ALTER TABLE (SQLite 3.35+), never batch mode's copy-and-drop: dropping ``accounts``
    # would cascade to every image while SQLite's foreign keys are on
    op.drop_column("accounts", "preserve_content_credentials")
