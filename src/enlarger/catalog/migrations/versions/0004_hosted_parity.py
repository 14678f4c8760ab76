"""hosted API parity: JSONB metadata + GIN index, listing index, browser TTLs, batch tokens

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # JSONB: the v2 list's metadata filters run as indexed containment queries
        op.execute("ALTER TABLE images ALTER COLUMN meta TYPE jsonb USING meta::jsonb")
        op.execute("CREATE INDEX ix_images_meta ON images USING gin (meta jsonb_path_ops)")
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.create_index("ix_images_account_seq", ["account_id", "seq"], unique=False)
    for table in ("accounts", "variants"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("browser_ttl", sa.Integer(), nullable=True))
    op.create_table(
        "batch_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    with op.batch_alter_table("batch_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_batch_tokens_expires"), ["expires"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("batch_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_batch_tokens_expires"))
    op.drop_table("batch_tokens")
    for table in ("variants", "accounts"):
        # a plain ALTER TABLE (SQLite 3.35+), never batch mode's copy-and-drop: dropping ``accounts``
        # would cascade to every image while SQLite's foreign keys are on
        op.drop_column(table, "browser_ttl")
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.drop_index("ix_images_account_seq")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_images_meta")
        op.execute("ALTER TABLE images ALTER COLUMN meta TYPE json USING meta::json")
