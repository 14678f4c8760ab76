"""Table definitions: the single description of the catalog that migrations are written against.

Images carry a surrogate ``seq`` (insertion order) so that v2 listings page by a stable,
opaque continuation token, and a ``blob_key`` separate from the image ID so that an ID deleted
and uploaded again never points at a blob that a slow reader might still be streaming.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)

metadata = MetaData()

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
_SEQ = BigInteger().with_variant(Integer(), "sqlite")

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("hash", String(32), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("flexible_variants", Boolean, nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("revoked", DateTime(timezone=True), nullable=True),
)

images = Table(
    "images",
    metadata,
    Column("seq", _SEQ, primary_key=True, autoincrement=True),
    Column("account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("id", String(1024), nullable=False),
    Column("filename", String(1024), nullable=False),
    Column("creator", String(1024), nullable=True),
    Column("uploaded", DateTime(timezone=True), nullable=False),
    Column("require_signed", Boolean, nullable=False),
    Column("meta", JSON, nullable=False),
    Column("draft", Boolean, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("content_type", String(64), nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("blob_key", String(200), nullable=True),
    Column("placeholders", JSON, nullable=True),  # blurhash, thumbhash, dominant_color (0005)
    UniqueConstraint("account_id", "id", name="uq_images_account_id"),
)

variants = Table(
    "variants",
    metadata,
    Column("account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("id", String(99), primary_key=True),
    Column("options", JSON, nullable=False),
    Column("never_require_signed", Boolean, nullable=False),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("value", String(128), nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
)

direct_uploads = Table(
    "direct_uploads",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("image_id", String(1024), nullable=False),
    Column("expires", DateTime(timezone=True), nullable=False, index=True),
)
