"""usage accounting: stored totals, delivered and unique transformations per account and day

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 10:00:00.000000

Existing images are counted into ``usage_stored`` on the day the migration runs, so the stored
totals start right instead of at zero.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _account_fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE")


def upgrade() -> None:
    stored = op.create_table(
        "usage_stored",
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("images", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        _account_fk(),
        sa.PrimaryKeyConstraint("account_id", "day"),
    )
    op.create_table(
        "usage_daily",
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("delivered_images", sa.BigInteger(), nullable=False),
        sa.Column("delivered_bytes", sa.BigInteger(), nullable=False),
        sa.Column("transformations", sa.BigInteger(), nullable=False),
        sa.Column("last_seen", sa.BigInteger(), nullable=False),
        sa.Column("unique_30d", sa.BigInteger(), nullable=False),
        _account_fk(),
        sa.PrimaryKeyConstraint("account_id", "day"),
    )
    op.create_table(
        "usage_keys",
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        _account_fk(),
        sa.PrimaryKeyConstraint("account_id", "key_hash"),
    )
    with op.batch_alter_table("usage_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_usage_keys_last_day"), ["last_day"], unique=False)
    op.create_table(
        "usage_quotas",
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("transformation_quota", sa.BigInteger(), nullable=False),
        _account_fk(),
        sa.PrimaryKeyConstraint("account_id"),
    )
    images = sa.table(
        "images", sa.column("account_id", sa.String), sa.column("size", sa.BigInteger), sa.column("draft", sa.Boolean)
    )
    totals = op.get_bind().execute(
        sa.select(images.c.account_id, sa.func.count(), sa.func.coalesce(sa.func.sum(images.c.size), 0))
        .where(images.c.draft.is_(False))
        .group_by(images.c.account_id)
    )
    today = datetime.now(UTC).date()
    rows = [{"account_id": a, "day": today, "images": int(n), "bytes": int(b)} for a, n, b in totals]
    if rows:
        op.bulk_insert(stored, rows)


def downgrade() -> None:
    op.drop_table("usage_quotas")
    with op.batch_alter_table("usage_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_usage_keys_last_day"))
    op.drop_table("usage_keys")
    op.drop_table("usage_daily")
    op.drop_table("usage_stored")
