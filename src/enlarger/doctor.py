"""``enlarger doctor``: check what a new installation most often gets wrong, before traffic does.

Each check answers one question an operator would otherwise learn from a failed request: is
libvips new enough and built with our loaders and savers, do AVIF and HEIC actually work, do the
configured models load, can the data directory be written, is the database reachable and at the
schema this version expects, is the S3 bucket reachable, is ``public_url`` a usable base URL.

A check's status is ``ok``, ``warn`` (works, but probably not what was meant) or ``fail``; the
command exits 0 only when nothing failed. Nothing is changed: no directory is created, no
migration applied, no object written (the server does those at start).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from enlarger.errors import FeatureUnavailableError
from enlarger.settings import Settings, load_settings

Status = Literal["ok", "warn", "fail"]
#: the libvips the project is built and tested against (pyvips-binary's pin in pyproject.toml)
MIN_LIBVIPS = (8, 16)
#: libvips operations the engine calls, by what they are for
LOADERS = ("jpegload_source", "pngload_source", "gifload_source", "webpload_source", "heifload_source",
           "tiffload_source", "svgload_source", "thumbnail_source")  # fmt: skip
SAVERS = ("jpegsave_buffer", "pngsave_buffer", "gifsave_buffer", "webpsave_buffer", "heifsave_buffer")
_S3_TIMEOUT = 5.0  # seconds: a doctor must answer quickly even when the endpoint is a black hole


@dataclass(frozen=True)
class Check:
    """One question and its answer, in words an operator can act on."""

    name: str
    status: Status
    detail: str


def _ok(name: str, detail: str) -> Check:
    return Check(name, "ok", detail)


def _fail(name: str, detail: str) -> Check:
    return Check(name, "fail", detail)


# --- libvips and codecs
def check_libvips() -> Check:
    import pyvips

    version = tuple(pyvips.version(i) for i in range(3))
    shown = ".".join(map(str, version))
    if version[:2] < MIN_LIBVIPS:
        wanted = ".".join(map(str, MIN_LIBVIPS))
        return _fail("libvips", f"libvips {shown} is older than {wanted}; install pyvips-binary>={wanted}")
    return _ok("libvips", f"libvips {shown}")


def _missing(operations: tuple[str, ...]) -> list[str]:
    import pyvips

    return [name for name in operations if pyvips.type_find("VipsOperation", name) == 0]


def check_operations(name: str, operations: tuple[str, ...]) -> Check:
    missing = _missing(operations)
    if missing:
        return _fail(name, f"this libvips lacks {', '.join(missing)}; use the pyvips-binary wheel's libvips")
    return _ok(name, ", ".join(op.removesuffix("_buffer").removesuffix("_source") for op in operations))


def check_avif() -> Check:
    """AVIF is what ``format=auto`` prefers: encode a tiny one and read it back."""
    import pyvips

    try:
        data = pyvips.Image.black(16, 16, bands=3).heifsave_buffer(compression="av1", Q=50)
        width = pyvips.Image.new_from_buffer(data, "").width
    except pyvips.Error as exc:
        return _fail("avif", f"AVIF does not round-trip: {str(exc).strip().splitlines()[0]}")
    if width != 16:
        return _fail("avif", f"an AVIF written 16 px wide read back {width} px wide")
    return _ok("avif", "encodes and decodes (libheif with an AV1 codec)")


def check_heic() -> Check:
    """HEIC (phone photos) is decoded by pillow-heif's libheif, which needs an HEVC decoder."""
    try:
        import pillow_heif
    except ImportError:
        return _fail("heic", "pillow-heif is not installed: HEIC uploads will be refused")
    decoders = pillow_heif.libheif_info().get("decoders", {})
    if not any("hevc" in str(text).lower() for text in decoders.values()):
        return _fail("heic", "libheif has no HEVC decoder: HEIC uploads will be refused")
    return _ok("heic", f"libheif {pillow_heif.libheif_info().get('libheif', '?')} with an HEVC decoder")


# --- models
def check_face_model(settings: Settings) -> Check:
    from enlarger.models import faces

    where = settings.face_model or "the built-in BlazeFace"
    try:
        faces.detector(settings)
    except FeatureUnavailableError as exc:
        return _fail("face_model", f"{exc.message} (gravity=face will answer 501)")
    return _ok("face_model", f"{where} loads")


def check_segment_model(settings: Settings) -> Check:
    if not settings.segment_model:
        return Check("segment_model", "warn", "not configured: segment=foreground answers 501 (optional)")
    from enlarger.models import segment

    try:
        segment.check_available(settings)
    except FeatureUnavailableError as exc:
        return _fail("segment_model", exc.message)
    return _ok("segment_model", f"{settings.segment_model} loads ({settings.segment_model_kind})")


# --- storage and database
def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_data_dir(settings: Settings) -> Check:
    path = settings.data_dir.absolute()
    if path.is_dir():
        try:
            with tempfile.TemporaryFile(dir=path):
                pass
        except OSError as exc:
            return _fail("data_dir", f"{path} is not writable: {exc.strerror or exc}")
        return _ok("data_dir", f"{path} is writable")
    if path.exists():
        return _fail("data_dir", f"{path} exists but is not a directory")
    parent = _nearest_existing(path)
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        return _fail("data_dir", f"{path} does not exist and cannot be created under {parent}")
    return _ok("data_dir", f"{path} does not exist yet; the server creates it at start")


def check_database(settings: Settings) -> Check:
    """Reachable, and at the schema this version expects (the server upgrades an older one itself)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine
    from sqlalchemy.exc import SQLAlchemyError

    from enlarger.catalog.migrate import alembic_config

    url = settings.catalog_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return _ok("database", "SQLite in the data directory; created and migrated at first start")
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    engine = create_engine(url, connect_args={"connect_timeout": 5} if url.startswith("postgresql") else {})
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]  # the driver's words
        return _fail("database", f"cannot reach {engine.url.render_as_string(hide_password=True)}: {reason}")
    finally:
        engine.dispose()
    known = {script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    if current == head:
        return _ok("database", f"{engine.url.get_backend_name()} reachable, schema at {head}")
    if current is not None and current not in known:
        return _fail("database", f"schema {current} is from a newer Enlarger than this one (head {head})")
    return Check("database", "warn", f"schema at {current or 'nothing'}; the server migrates it to {head} at start")


def check_s3(settings: Settings) -> Check:
    if settings.storage != "s3":
        return _ok("storage", f"local, under {settings.data_dir / 'originals'}")
    if not settings.s3_bucket:
        return _fail("storage", "storage=s3 needs s3_bucket")
    try:
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        return _fail("storage", "storage=s3 needs boto3: pip install 'enlarger[s3]'")
    client = boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint or None,
        region_name=settings.s3_region,
        aws_access_key_id=settings.s3_access_key_id or None,
        aws_secret_access_key=settings.s3_secret_access_key or None,
        config=Config(connect_timeout=_S3_TIMEOUT, read_timeout=_S3_TIMEOUT, retries={"max_attempts": 1}),
    )
    try:
        client.head_bucket(Bucket=settings.s3_bucket)
    except (BotoCoreError, ClientError) as exc:
        return _fail("storage", f"bucket {settings.s3_bucket!r} is not reachable: {exc}")
    return _ok("storage", f"s3 bucket {settings.s3_bucket!r} reachable")


def check_public_url(settings: Settings) -> Check:
    url = settings.public_url
    if not url:
        return Check("public_url", "warn", "not set: delivery URLs use each request's Host (set it behind a proxy)")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError as exc:
        return _fail("public_url", f"{url!r} is not a URL: {exc}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return _fail("public_url", f"{url!r} must be an http(s) URL with a host, e.g. https://images.example.com")
    if parts.query or parts.fragment or "@" in parts.netloc or url != url.strip():
        return _fail("public_url", f"{url!r} must be a plain base URL: no query, fragment, credentials or spaces")
    if parts.scheme == "http" and parts.hostname not in ("localhost", "127.0.0.1", "::1"):
        return Check("public_url", "warn", f"{url} is plain http: browsers will block its images on https pages")
    return _ok("public_url", url)


def run_checks(settings: Settings) -> list[Check]:
    """Every check, in the order a new operator should fix them."""
    checks: list[Callable[[], Check]] = [
        check_libvips,
        lambda: check_operations("loaders", LOADERS),
        lambda: check_operations("savers", SAVERS),
        check_avif,
        check_heic,
        lambda: check_data_dir(settings),
        lambda: check_database(settings),
        lambda: check_s3(settings),
        lambda: check_public_url(settings),
        lambda: check_face_model(settings),
        lambda: check_segment_model(settings),
    ]
    return [check() for check in checks]


def render(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = [f"{c.status.upper():<5} {c.name:<{width}}  {c.detail}" for c in checks]
    failed = [c.name for c in checks if c.status == "fail"]
    lines.append(f"\n{len(failed)} check(s) failed: {', '.join(failed)}" if failed else "\nall required checks passed")
    return "\n".join(lines)


def _cmd_doctor(args: argparse.Namespace) -> int:
    settings = load_settings(args.config, data_dir=args.data_dir)
    checks = run_checks(settings)
    failed = any(c.status == "fail" for c in checks)
    if args.json:
        body: dict[str, Any] = {"ok": not failed, "checks": [asdict(c) for c in checks]}
        print(json.dumps(body, indent=2))
    else:
        print(render(checks))
    return 1 if failed else 0


def add_command(commands: Any) -> None:
    """Register ``enlarger doctor`` on the CLI's subcommands."""
    p = commands.add_parser(
        "doctor",
        help="check this installation (libvips, codecs, models, data dir, database, S3, public_url)",
        description="Check what a new installation most often gets wrong; exits 0 only when nothing failed.",
    )
    p.add_argument("--data-dir", type=Path, help="data directory (default: the settings' data_dir)")
    p.add_argument("--json", action="store_true", help="print the checks as JSON for scripts")
    p.set_defaults(run=_cmd_doctor)
