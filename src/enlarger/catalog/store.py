"""The catalog's operations, one short transaction each, on SQLite (WAL) or PostgreSQL.

Calls are synchronous (SQLAlchemy Core); the server runs them in worker threads. Secrets that
only need checking (API tokens, upload-slot tokens) are stored as SHA-256 digests; signing keys
must be stored as they are because the server computes HMACs with them.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Engine,
    String,
    Table,
    cast,
    create_engine,
    delete,
    event,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import Select

from enlarger import tracing
from enlarger.catalog import migrate, traced
from enlarger.catalog.filters import ImageFilter, meta_condition
from enlarger.catalog.schema import (
    accounts,
    api_tokens,
    batch_tokens,
    direct_uploads,
    images,
    purge_log,
    signing_keys,
    usage_stored,
    variants,
)
from enlarger.errors import (
    ConflictError,
    GoneError,
    NotFoundError,
    QuotaExceededError,
    RequestError,
)

DEFAULT_VARIANT = "public"
DEFAULT_KEY = "default"
MAX_VARIANTS = 100  # Cloudflare's per-account limit (create-variants.mdx)
EVERY_IMAGE = ImageFilter()
_PUBLIC_OPTIONS = {"fit": "scale-down", "width": 1366, "height": 768, "metadata": "none"}


def now() -> datetime:
    return datetime.now(UTC)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _aware(moment: datetime) -> datetime:
    """SQLite hands datetimes back without a zone; everything here is stored in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Account:
    id: str
    hash: str
    name: str
    flexible_variants: bool
    created: datetime
    browser_ttl: int | None = None  # seconds; None: the server's default
    preserve_content_credentials: bool | None = None  # None: the server's c2pa_preserve


@dataclass(frozen=True)
class Token:
    id: str
    account_id: str
    name: str
    created: datetime
    revoked: datetime | None


@dataclass(frozen=True)
class Image:
    """One catalog row; ``blob_key`` is None only for drafts waiting for their direct upload."""

    account_id: str
    id: str
    filename: str
    creator: str | None
    uploaded: datetime
    require_signed: bool
    meta: dict[str, Any]
    draft: bool
    size: int
    content_type: str
    width: int
    height: int
    content_hash: str
    blob_key: str | None
    seq: int = 0
    #: blurhash, thumbhash and dominant_color, computed once at upload (None: uploaded before they existed)
    placeholders: dict[str, str] | None = None


@dataclass(frozen=True)
class Variant:
    id: str
    options: dict[str, Any]  # transformation options only
    never_require_signed: bool
    browser_ttl: int | None = None  # seconds; None: the account's


@dataclass(frozen=True)
class SigningKey:
    name: str
    value: str


@dataclass(frozen=True)
class Slot:
    """A redeemed direct-upload slot: which draft image the upload fills."""

    account_id: str
    image_id: str


@dataclass
class Page:
    images: list[Image]
    continuation_token: str | None = None
    total: int = 0


def _image(row: Row[Any]) -> Image:
    values = dict(row._mapping)
    values["uploaded"] = _aware(values["uploaded"])
    return Image(**values)


def _columns(image: Image) -> dict[str, Any]:
    """An image's column values, without the database-assigned ``seq``."""
    return {k: v for k, v in image.__dict__.items() if k != "seq"}


def _account(row: Row[Any]) -> Account:
    return Account(**{**row._mapping, "created": _aware(row.created)})


def _variant(row: Row[Any]) -> Variant:
    return Variant(row.id, dict(row.options), row.never_require_signed, row.browser_ttl)


def _count(c: Connection, account_id: str) -> int:
    return int(c.execute(select(func.count()).where(images.c.account_id == account_id)).scalar_one())


def _token_of(seq: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


def _seq_of(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        prefix, _, number = text.partition(":")
        seq = int(number)
        if prefix != "seq" or not 0 <= seq < 2**62:
            raise ValueError(token)
        return seq
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError(f"invalid continuation_token {token!r}: pass the token a previous page returned") from exc


def open_engine(url: str) -> Engine:
    """An engine for ``url``, with SQLite set up for concurrent readers and enforced foreign keys."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")  # an acknowledged upload survives power loss
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


class Catalog:
    """Every read and write of hosting metadata; raises typed errors the API maps to HTTP."""

    def __init__(self, url: str) -> None:
        self.engine = open_engine(url)
        self._write_lock: AbstractContextManager[object] = (
            threading.Lock() if self.engine.dialect.name == "sqlite" else nullcontext()
        )
        migrate.upgrade(self.engine)
        if tracing.ENABLED:  # one span per statement (issue 29); untraced, nothing is hooked
            traced.watch(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # --- accounts and tokens
    def create_account(self, name: str = "") -> Account:
        account = Account(uuid.uuid4().hex, secrets.token_urlsafe(16), name, False, now())
        with self.engine.begin() as c:
            c.execute(insert(accounts).values(**account.__dict__))
            c.execute(
                insert(variants).values(
                    account_id=account.id, id=DEFAULT_VARIANT, options=_PUBLIC_OPTIONS, never_require_signed=False
                )
            )
            self._add_key(c, account.id, DEFAULT_KEY)
        return account

    def accounts(self) -> list[Account]:
        with self.engine.connect() as c:
            rows = c.execute(select(accounts).order_by(accounts.c.created)).all()
        return [_account(r) for r in rows]

    def account(self, account_id: str) -> Account:
        return self._account_where(accounts.c.id == account_id, account_id)

    def account_by_hash(self, account_hash: str) -> Account:
        return self._account_where(accounts.c.hash == account_hash, account_hash)

    def _account_where(self, condition: Any, shown: str) -> Account:
        with self.engine.connect() as c:
            row = c.execute(select(accounts).where(condition)).first()
        if row is None:
            raise NotFoundError(f"account {shown!r} not found")
        return _account(row)

    def set_flexible_variants(self, account_id: str, enabled: bool) -> Account:
        return self.update_account(account_id, {"flexible_variants": enabled})

    def update_account(self, account_id: str, changes: Mapping[str, Any]) -> Account:
        """Change an account's settings (``flexible_variants``, ``browser_ttl``, ``preserve_content_credentials``)."""
        self.account(account_id)
        if changes:
            with self.engine.begin() as c:
                c.execute(update(accounts).where(accounts.c.id == account_id).values(**changes))
        return self.account(account_id)

    # --- batch tokens
    def create_batch_token(self, account_id: str, lifetime: timedelta) -> tuple[str, datetime]:
        """A bearer token for the batch API, good for ``lifetime``; only its digest is kept."""
        secret = "enlb_" + secrets.token_urlsafe(32)
        expires = now() + lifetime
        with self.engine.begin() as c:
            c.execute(insert(batch_tokens).values(token_hash=digest(secret), account_id=account_id, expires=expires))
        return secret, expires

    def batch_token_account(self, secret: str) -> str | None:
        """The account an unexpired batch token belongs to, or None."""
        with self.engine.connect() as c:
            return c.execute(
                select(batch_tokens.c.account_id).where(
                    batch_tokens.c.token_hash == digest(secret), batch_tokens.c.expires > now()
                )
            ).scalar()

    def expire_batch_tokens(self) -> int:
        with self.engine.begin() as c:
            return c.execute(delete(batch_tokens).where(batch_tokens.c.expires <= now())).rowcount

    def create_token(self, account_id: str, name: str = "") -> tuple[Token, str]:
        """A new API token; the secret is returned once and only its digest is kept."""
        self.account(account_id)
        secret = "enl_" + secrets.token_urlsafe(32)
        token = Token(uuid.uuid4().hex, account_id, name, now(), None)
        with self.engine.begin() as c:
            c.execute(insert(api_tokens).values(**token.__dict__, token_hash=digest(secret)))
        return token, secret

    def tokens(self, account_id: str) -> list[Token]:
        with self.engine.connect() as c:
            rows = c.execute(
                select(api_tokens.c.id, api_tokens.c.account_id, api_tokens.c.name)
                .add_columns(api_tokens.c.created, api_tokens.c.revoked)
                .where(api_tokens.c.account_id == account_id)
                .order_by(api_tokens.c.created)
            ).all()
        return [
            Token(r.id, r.account_id, r.name, _aware(r.created), _aware(r.revoked) if r.revoked else None) for r in rows
        ]

    def revoke_token(self, token_id: str, account_id: str | None) -> None:
        """Revoke a token of ``account_id`` (a dashboard session: its own tokens only; another
        account's token is "not found"), or of any account when ``None`` (the operator's CLI)."""
        with self.engine.begin() as c:
            active = (api_tokens.c.id == token_id) & api_tokens.c.revoked.is_(None)
            if account_id is not None:
                active &= api_tokens.c.account_id == account_id
            done = c.execute(update(api_tokens).where(active).values(revoked=now()))
        if done.rowcount == 0:
            raise NotFoundError(f"no active token with id {token_id!r}")

    def token_account(self, secret: str) -> str | None:
        """The account an unrevoked token belongs to, or None."""
        with self.engine.connect() as c:
            return c.execute(
                select(api_tokens.c.account_id).where(
                    api_tokens.c.token_hash == digest(secret), api_tokens.c.revoked.is_(None)
                )
            ).scalar()

    # --- images
    def add_image(self, image: Image, quota: int | None = None) -> Image:
        """Commit an uploaded image's row: only after this does the upload exist for anyone.

        The quota is checked in the same transaction, under the account's lock, so concurrent
        uploads cannot overshoot it. The row is returned from memory: nothing after the commit
        can fail and leave the caller unsure whether it happened.
        """
        with self._account_transaction(image.account_id) as c:
            self._check_quota(c, image.account_id, quota)
            seq = self._insert_image(c, image)
            _stored_change(c, image.account_id, 1, image.size)  # usage accounting
        return replace(image, seq=seq)

    @staticmethod
    def _insert_image(c: Connection, image: Image) -> int:
        try:
            result = c.execute(insert(images).values(**_columns(image)))
        except IntegrityError as exc:
            raise ConflictError(f"an image with id {image.id!r} already exists") from exc
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])

    @staticmethod
    def _check_quota(c: Connection, account_id: str, quota: int | None) -> None:
        if quota is not None and _count(c, account_id) >= quota:
            raise QuotaExceededError(f"this account already stores its limit of {quota} images")

    @contextmanager
    def _account_transaction(self, account_id: str) -> Iterator[Connection]:
        """A transaction holding the account's lock: quota checks and key changes run one at a time.

        PostgreSQL locks the account row (``FOR UPDATE``); SQLite, which has one writer and
        ignores row locks, is serialised by a process lock (it serves one machine).
        """
        with self._write_lock, self.engine.begin() as c:
            c.execute(select(accounts.c.id).where(accounts.c.id == account_id).with_for_update())
            yield c

    def image(self, account_id: str, image_id: str, *, drafts: bool = False) -> Image:
        query = select(images).where(images.c.account_id == account_id, images.c.id == image_id)
        if not drafts:
            query = query.where(~images.c.draft)
        with self.engine.connect() as c:
            row = c.execute(query).first()
        if row is None:
            raise NotFoundError(f"image {image_id!r} not found")
        return _image(row)

    def update_image(self, account_id: str, image_id: str, changes: Mapping[str, Any]) -> Image:
        self.image(account_id, image_id, drafts=True)
        if changes:
            with self.engine.begin() as c:
                c.execute(
                    update(images).where(images.c.account_id == account_id, images.c.id == image_id).values(**changes)
                )
        return self.image(account_id, image_id, drafts=True)

    def delete_image(self, account_id: str, image_id: str) -> Image:
        """Remove the row (the image is gone from then on); the caller deletes the blob after."""
        image = self.image(account_id, image_id, drafts=True)
        with self.engine.begin() as c:
            gone = c.execute(delete(images).where(images.c.seq == image.seq))
            if gone.rowcount and not image.draft:
                _stored_change(c, account_id, -1, -image.size)  # usage accounting
            c.execute(
                delete(direct_uploads).where(
                    direct_uploads.c.account_id == account_id, direct_uploads.c.image_id == image_id
                )
            )
        return image

    def count_images(self, account_id: str) -> int:
        with self.engine.connect() as c:
            return _count(c, account_id)

    def _listed(self, account_id: str, where: ImageFilter) -> list[Any]:
        """The conditions of a listing: the account's uploaded images (never drafts), filtered in SQL."""
        conditions: list[Any] = [images.c.account_id == account_id, ~images.c.draft]
        if where.creator == "":
            conditions.append(images.c.creator.is_(None))
        elif where.creator is not None:
            conditions.append(images.c.creator == where.creator)
        dialect = self.engine.dialect.name
        conditions += [meta_condition(images.c.meta, f, dialect) for f in where.meta]
        return conditions

    def page(self, account_id: str, page: int, per_page: int, where: ImageFilter = EVERY_IMAGE) -> Page:
        """v1 listing: numbered pages, oldest first."""
        conditions = self._listed(account_id, where)
        with self.engine.connect() as c:
            rows = c.execute(
                select(images).where(*conditions).order_by(images.c.seq).offset((page - 1) * per_page).limit(per_page)
            ).all()
            total = c.execute(select(func.count()).select_from(images).where(*conditions)).scalar_one()
        return Page([_image(r) for r in rows], total=int(total))

    def after(
        self, account_id: str, token: str | None, per_page: int, descending: bool, where: ImageFilter = EVERY_IMAGE
    ) -> Page:
        """v2 listing: keyset pages in upload order, resumable by an opaque continuation token."""
        query = select(images).where(*self._listed(account_id, where))
        return self._keyset_page(query, token, per_page, descending)

    def _keyset_page(self, query: Select[Any], token: str | None, per_page: int, descending: bool) -> Page:
        """One page of ``query``'s images in upload order after ``token``, and the token of the next."""
        if token:
            seq = _seq_of(token)
            query = query.where(images.c.seq < seq if descending else images.c.seq > seq)
        order = images.c.seq.desc() if descending else images.c.seq
        with self.engine.connect() as c:
            rows = c.execute(query.order_by(order).limit(per_page + 1)).all()
        found = [_image(r) for r in rows[:per_page]]
        return Page(found, continuation_token=_token_of(found[-1].seq) if len(rows) > per_page else None)

    def blob_keys(self) -> set[str]:
        with self.engine.connect() as c:
            return {key for key in c.execute(select(images.c.blob_key).where(images.c.blob_key.isnot(None))).scalars()}

    # --- direct uploads
    def add_slot(self, draft: Image, expires: datetime, quota: int | None = None) -> str:
        """Reserve ``draft``'s ID and return the one-time secret of its upload URL (one transaction)."""
        secret = secrets.token_urlsafe(24)
        with self._account_transaction(draft.account_id) as c:
            self._check_quota(c, draft.account_id, quota)
            self._insert_image(c, draft)
            c.execute(
                insert(direct_uploads).values(
                    token_hash=digest(secret), account_id=draft.account_id, image_id=draft.id, expires=expires
                )
            )
        return secret

    def slot(self, secret: str) -> Slot:
        """The slot behind an upload URL; used or unknown → 404, expired → 410 (and cleared)."""
        with self.engine.connect() as c:
            row = c.execute(select(direct_uploads).where(direct_uploads.c.token_hash == digest(secret))).first()
        if row is None:
            raise NotFoundError("this upload URL is unknown or was already used")
        if _aware(row.expires) <= now():
            self._drop_slot(row.token_hash, row.account_id, row.image_id)
            raise GoneError("this upload URL has expired; ask for a new one")
        return Slot(row.account_id, row.image_id)

    def redeem(self, secret: str, image: Image) -> Image:
        """Fill the draft and burn the slot in one transaction: a second use finds nothing."""
        filled = replace(image, draft=False, uploaded=now())
        with self.engine.begin() as c:
            live = (direct_uploads.c.token_hash == digest(secret)) & (direct_uploads.c.expires > now())
            burned = c.execute(delete(direct_uploads).where(live))
            if burned.rowcount == 0:
                raise NotFoundError("this upload URL is unknown, expired or was already used")
            c.execute(
                update(images)
                .where(images.c.account_id == image.account_id, images.c.id == image.id, images.c.draft)
                .values(**_columns(filled))
            )
            _stored_change(c, image.account_id, 1, filled.size)  # usage accounting
        return filled

    def expire_slots(self) -> int:
        """Forget expired slots and their never-filled drafts; returns how many went."""
        with self.engine.begin() as c:
            rows = c.execute(select(direct_uploads).where(direct_uploads.c.expires <= now())).all()
        for row in rows:
            self._drop_slot(row.token_hash, row.account_id, row.image_id)
        return len(rows)

    def _drop_slot(self, token_hash: str, account_id: str, image_id: str) -> None:
        with self.engine.begin() as c:
            c.execute(delete(direct_uploads).where(direct_uploads.c.token_hash == token_hash))
            c.execute(delete(images).where(images.c.account_id == account_id, images.c.id == image_id, images.c.draft))

    # --- variants
    def variants(self, account_id: str) -> list[Variant]:
        with self.engine.connect() as c:
            rows = c.execute(select(variants).where(variants.c.account_id == account_id).order_by(variants.c.id)).all()
        return [_variant(r) for r in rows]

    def variant(self, account_id: str, variant_id: str) -> Variant:
        with self.engine.connect() as c:
            row = c.execute(
                select(variants).where(variants.c.account_id == account_id, variants.c.id == variant_id)
            ).first()
        if row is None:
            raise NotFoundError(f"variant {variant_id!r} not found")
        return _variant(row)

    def add_variant(self, account_id: str, variant: Variant) -> Variant:
        """Add a variant; at most :data:`MAX_VARIANTS` per account (counted under the account's lock)."""
        try:
            with self._account_transaction(account_id) as c:
                held = c.execute(select(func.count()).where(variants.c.account_id == account_id)).scalar_one()
                if held >= MAX_VARIANTS:
                    raise QuotaExceededError(
                        f"an account can have at most {MAX_VARIANTS} variants; delete one before adding {variant.id!r}"
                    )
                c.execute(insert(variants).values(account_id=account_id, **self._variant_values(variant)))
        except IntegrityError as exc:
            raise ConflictError(f"variant {variant.id!r} already exists") from exc
        return variant

    def update_variant(self, account_id: str, variant: Variant) -> Variant:
        self.variant(account_id, variant.id)
        with self.engine.begin() as c:
            c.execute(
                update(variants)
                .where(variants.c.account_id == account_id, variants.c.id == variant.id)
                .values(**self._variant_values(variant))
            )
        return variant

    def delete_variant(self, account_id: str, variant_id: str) -> None:
        self.variant(account_id, variant_id)
        with self.engine.begin() as c:
            c.execute(delete(variants).where(variants.c.account_id == account_id, variants.c.id == variant_id))

    @staticmethod
    def _variant_values(variant: Variant) -> dict[str, Any]:
        return {
            "id": variant.id,
            "options": variant.options,
            "never_require_signed": variant.never_require_signed,
            "browser_ttl": variant.browser_ttl,
        }

    # --- signing keys
    def keys(self, account_id: str) -> list[SigningKey]:
        with self.engine.connect() as c:
            rows = c.execute(
                select(signing_keys).where(signing_keys.c.account_id == account_id).order_by(signing_keys.c.created)
            ).all()
        return [SigningKey(r.name, r.value) for r in rows]

    def put_key(self, account_id: str, name: str) -> list[SigningKey]:
        """Create the key ``name`` with a fresh value, or replace its value (rotation)."""
        with self._account_transaction(account_id) as c:
            c.execute(delete(signing_keys).where(signing_keys.c.account_id == account_id, signing_keys.c.name == name))
            self._add_key(c, account_id, name)
        return self.keys(account_id)

    def delete_key(self, account_id: str, name: str) -> list[SigningKey]:
        """Delete a key; an account is never left without one (a new ``default`` replaces the last)."""
        with self._account_transaction(account_id) as c:
            done = c.execute(
                delete(signing_keys).where(signing_keys.c.account_id == account_id, signing_keys.c.name == name)
            )
            if done.rowcount == 0:
                raise NotFoundError(f"signing key {name!r} not found")
            left = c.execute(select(func.count()).where(signing_keys.c.account_id == account_id)).scalar_one()
            if left == 0:
                self._add_key(c, account_id, DEFAULT_KEY)
        return self.keys(account_id)

    @staticmethod
    def _add_key(c: Connection, account_id: str, name: str) -> None:
        c.execute(
            insert(signing_keys).values(account_id=account_id, name=name, value=secrets.token_hex(32), created=now())
        )

    # --- the purge log (docs/server.md "Several machines"): what every replica purges from its disk
    def log_purge(self, tags: tuple[str, ...]) -> int:
        """Record a purge of ``tags``; returns its sequence id."""
        with self.engine.begin() as c:
            done = c.execute(insert(purge_log).values(tags=list(tags), at=now()).returning(purge_log.c.id))
            return int(done.scalar_one())

    def purges_after(self, last: int, limit: int = 1000) -> list[tuple[int, tuple[str, ...], datetime]]:
        """The purges logged after id ``last``, oldest first, with when each was logged."""
        with self.engine.connect() as c:
            rows = c.execute(
                select(purge_log.c.id, purge_log.c.tags, purge_log.c.at)
                .where(purge_log.c.id > last)
                .order_by(purge_log.c.id)
                .limit(limit)
            ).all()
        return [(r.id, tuple(r.tags), r.at if r.at.tzinfo else r.at.replace(tzinfo=UTC)) for r in rows]

    def last_purge(self) -> int:
        """The newest purge's id (0 for none): where a replica with an empty history starts."""
        with self.engine.connect() as c:
            return int(c.execute(select(func.coalesce(func.max(purge_log.c.id), 0))).scalar_one())

    def prune_purges(self, before: datetime) -> int:
        """Forget purges logged before ``before``; returns how many."""
        with self.engine.begin() as c:
            return c.execute(delete(purge_log).where(purge_log.c.at < before)).rowcount

    # --- for modules that commit their own rows with an image's, in one transaction (bulk imports)
    def account_transaction(self, account_id: str) -> AbstractContextManager[Connection]:
        """A transaction holding the account's lock, as uploads use it for the quota check."""
        return self._account_transaction(account_id)

    def insert_image(self, c: Connection, image: Image, quota: int | None) -> Image:
        """Insert ``image`` inside ``c`` (from :meth:`account_transaction`) after the quota check,
        so that it commits, or not, together with what the caller writes beside it."""
        self._check_quota(c, image.account_id, quota)
        return replace(image, seq=self._insert_image(c, image))

    # --- dashboard search
    def search(self, account_id: str, text: str, token: str | None, per_page: int, descending: bool) -> Page:
        """Images whose id, creator or metadata contain ``text`` (any case), in keyset pages like v2.

        An operator's interactive search: it scans the account's rows (no index helps a substring),
        which is fine for a person typing and never on the serving path. Drafts are left out.
        """
        query = select(images).where(images.c.account_id == account_id, ~images.c.draft)
        if text:
            pattern = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            fields = (images.c.id, func.coalesce(images.c.creator, ""), cast(images.c.meta, String))
            query = query.where(or_(*(func.lower(f).like(pattern, escape="\\") for f in fields)))
        return self._keyset_page(query, token, per_page, descending)


def upsert(c: Connection, table: Table, row: Mapping[str, Any], on_conflict: Mapping[str, Any]) -> None:
    """INSERT, or UPDATE the existing row by primary key — atomically, on SQLite and PostgreSQL alike."""
    keys = [column.name for column in table.primary_key.columns]
    if c.dialect.name == "postgresql":
        pg = postgresql.insert(table).values(**row)
        c.execute(pg.on_conflict_do_update(index_elements=keys, set_=dict(on_conflict)))
    else:
        lite = sqlite.insert(table).values(**row)
        c.execute(lite.on_conflict_do_update(index_elements=keys, set_=dict(on_conflict)))


def stored_on(c: Connection, account_id: str, day: date) -> tuple[int, int]:
    """(images, bytes) stored at the end of ``day``: the last day's totals written by an image change."""
    row = c.execute(
        select(usage_stored.c.images, usage_stored.c.bytes)
        .where(usage_stored.c.account_id == account_id, usage_stored.c.day <= day)
        .order_by(usage_stored.c.day.desc())
        .limit(1)
    ).first()
    return (int(row.images), int(row.bytes)) if row is not None else (0, 0)


def _stored_change(c: Connection, account_id: str, count: int, size: int) -> None:
    """Move today's stored totals by (count, size), in the transaction that adds or removes the image.

    Today's row starts from the last earlier day's totals; a concurrent first change of the day
    conflicts and adds its own delta, so the result is exact without a lock.
    """
    day = now().date()
    before = stored_on(c, account_id, day - timedelta(days=1))
    row = {"account_id": account_id, "day": day, "images": before[0] + count, "bytes": before[1] + size}
    upsert(c, usage_stored, row, {"images": usage_stored.c.images + count, "bytes": usage_stored.c.bytes + size})
