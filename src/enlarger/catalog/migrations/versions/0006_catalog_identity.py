"""catalog identity: a random id written once, that the storage's ownership marker repeats

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 09:30:00.000000
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    meta = op.create_table(
        "catalog_meta",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(256), nullable=False),
    )
    op.bulk_insert(meta, [{"name": "catalog_id", "value": uuid.uuid4().hex}])


def downgrade() -> None:
    op.drop_table("catalog_meta")
