"""Table definitions: the single description of the catalog that migrations are written against.

Images carry a surrogate ``seq`` (insertion order) so that v2 listings page by a stable,
opaque continuation token, and a ``blob_key`` separate from the image ID so that an ID deleted
and uploaded again never points at a blob that a slow reader might still be streaming.

Image metadata is JSONB on PostgreSQL with a GIN (``jsonb_path_ops``) index, so the v2 list's
``meta.<field>[eq|in]`` filters are index containment queries (:mod:`enlarger.catalog.filters`);
SQLite keeps JSON text and filters with ``json_extract`` in SQL.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
_SEQ = BigInteger().with_variant(Integer(), "sqlite")
# JSONB on PostgreSQL: containment (@>) and path operators for metadata filters, GIN-indexable.
_META = JSON().with_variant(JSONB(), "postgresql")

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("hash", String(32), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("flexible_variants", Boolean, nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("browser_ttl", Integer, nullable=True),  # seconds; None: the server's cache_control_max_age
    # hosted images keep C2PA through transformations (PATCH /v1/config); None: the server's c2pa_preserve
    Column("preserve_content_credentials", Boolean, nullable=True),
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
    Column("meta", _META, nullable=False),
    Column("draft", Boolean, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("content_type", String(64), nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("blob_key", String(200), nullable=True),
    Column("placeholders", JSON, nullable=True),  # blurhash, thumbhash, dominant_color (0005)
    UniqueConstraint("account_id", "id", name="uq_images_account_id"),
    Index("ix_images_account_seq", "account_id", "seq"),  # listings: one account, in upload order
)
Index("ix_images_meta", images.c.meta, postgresql_using="gin", postgresql_ops={"meta": "jsonb_path_ops"}).ddl_if(
    dialect="postgresql"
)

variants = Table(
    "variants",
    metadata,
    Column("account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("id", String(99), primary_key=True),
    Column("options", JSON, nullable=False),
    Column("never_require_signed", Boolean, nullable=False),
    Column("browser_ttl", Integer, nullable=True),  # seconds; overrides the account's for this variant
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

# --- bulk imports (enlarger.importing): a job per import and a row per source object.
# Object rows are claimed under a lease (owner + expiry) so that any runner may pick up work a
# dead one left; an object is marked done in the transaction that commits its image row.
import_jobs = Table(
    "import_jobs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("source", String(2048), nullable=False),  # a description, never credentials
    Column("config", JSON, nullable=False),  # what the runner needs to reopen the source (no secrets)
    Column("id_prefix", String(1024), nullable=False),
    Column("new_ids", Boolean, nullable=False),
    Column("overwrite", Boolean, nullable=False),
    Column("dry_run", Boolean, nullable=False),
    Column("concurrency", Integer, nullable=False),
    Column("rate", Float, nullable=False),
    Column("started_by", String(200), nullable=False),
    Column("runner", String(8), nullable=False),  # cli | server: who resumes it
    Column("state", String(16), nullable=False),
    Column("listed", Boolean, nullable=False),
    Column("cursor", String(4096), nullable=True),
    Column("total", BigInteger, nullable=False),
    Column("total_bytes", BigInteger, nullable=False),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("updated", DateTime(timezone=True), nullable=False),
    Column("finished", DateTime(timezone=True), nullable=True),
    Column("error", String(2000), nullable=True),
)

import_objects = Table(
    "import_objects",
    metadata,
    Column("seq", _SEQ, primary_key=True, autoincrement=True),
    Column("job_id", String(32), ForeignKey("import_jobs.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(4096), nullable=False),
    Column("image_id", String(1024), nullable=False),
    Column("size", BigInteger, nullable=True),
    Column("spec", JSON, nullable=False),
    Column("state", String(8), nullable=False),
    Column("reason", String(2000), nullable=True),
    Column("bytes", BigInteger, nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("finished", DateTime(timezone=True), nullable=True),
    Index("ix_import_objects_job_state", "job_id", "state", "seq"),
)


# --- usage accounting (docs/usage.md): per account and UTC day, kept cheap to update and to read

usage_stored = Table(
    "usage_stored",
    metadata,
    Column("account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("day", Date, primary_key=True),
    # absolute totals at the end of the day (a row only on days that changed them; later days carry them)
    Column("images", BigInteger, nullable=False),
    Column("bytes", BigInteger, nullable=False),
)

usage_daily = Table(
    "usage_daily",
    metadata,
    Column("account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("delivered_images", BigInteger, nullable=False, default=0),
    Column("delivered_bytes", BigInteger, nullable=False, default=0),
    # distinct transformations requested that day
    Column("transformations", BigInteger, nullable=False, default=0),
    # transformations whose most recent request is this day: the 30-day figure is their sum over 30 days
    Column("last_seen", BigInteger, nullable=False, default=0),
    # the 30-day figure as it stood after the day's last new transformation (for history charts)
    Column("unique_30d", BigInteger, nullable=False, default=0),
)

usage_keys = Table(
    "usage_keys",
    metadata,
    Column("account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("key_hash", String(64), primary_key=True),  # sha256 of (image id, canonical options)
    Column("last_day", Date, nullable=False, index=True),
)

usage_quotas = Table(
    "usage_quotas",
    metadata,
    Column("account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("transformation_quota", BigInteger, nullable=False),
)


batch_tokens = Table(
    "batch_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("expires", DateTime(timezone=True), nullable=False, index=True),
)

#: facts about the catalog itself; ``catalog_id`` (written by migration 0006) names it in the
#: storage's ownership marker, so a sweep can tell its own bucket from another catalog's
catalog_meta = Table(
    "catalog_meta",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(256), nullable=False),
)

#: every purge a hosting change made (migration 0008): each replica reads the entries after the last
#: one it applied and purges its own disk cache by their tags (docs/server.md "Several machines");
#: entries older than ``purge_log_retention_seconds`` are pruned
purge_log = Table(
    "purge_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tags", JSON, nullable=False),  # the internal tags (server/purge.py), a list of strings
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    sqlite_autoincrement=True,  # ids never reused after a prune: replicas remember the last one they applied
)
