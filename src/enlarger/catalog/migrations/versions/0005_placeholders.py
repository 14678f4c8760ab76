"""image placeholders (blurhash, thumbhash, dominant_color), computed at upload

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # nullable: images uploaded before this revision have none until they are uploaded again
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.add_column(sa.Column("placeholders", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.drop_column("placeholders")
