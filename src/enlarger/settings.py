"""One typed settings object, read from a TOML file and ``ENLARGER_*`` environment variables.

Precedence: defaults < TOML file (``--config`` or ``ENLARGER_CONFIG``) < environment. Each
field's ``doc`` metadata is the documentation: ``docs/settings.md`` is generated from it (see
``enlarger.reference``), so the reference cannot drift from the code.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar, get_type_hints

ENV_PREFIX = "ENLARGER_"


class SettingsError(ValueError):
    """A setting has a value of the wrong type or outside its range."""


def _doc(text: str, bounds: tuple[float, float | None] = (0, None), choices: tuple[str, ...] = ()) -> dict[str, object]:
    """Field metadata: the documentation line and the allowed range or choices (checked on construction)."""
    return {"doc": text, "range": bounds, "choices": choices}


@dataclass(frozen=True)
class Settings:
    """Every setting of the product. Field names are the TOML keys; ENLARGER_<NAME> overrides."""

    max_input_bytes: int = field(
        default=100 * 1024 * 1024,
        metadata=_doc("Largest source file accepted for transformation, in bytes (checked before decoding)."),
    )
    max_input_pixels: int = field(
        default=100_000_000,
        metadata=_doc("Largest source image in pixels (width × height of one frame), read from the header."),
    )
    max_animation_pixels: int = field(
        default=50_000_000,
        metadata=_doc("Largest animation in total pixels (frames × width × height) when all frames are kept."),
    )
    max_animation_frames: int = field(
        default=3_000,
        metadata=_doc(
            "Most frames of an animation whose frames are all kept, read from the header before decoding; "
            "more is refused (403, 9413) unless anim=false asks for the first frame only. Each frame costs "
            "work of its own however small it is: 3,000 is two minutes at 25 frames a second.",
            (1, None),
        ),
    )
    max_output_side: int = field(
        default=12_000,
        metadata=_doc("Longest side of any output; larger requests are scaled down to fit, keeping the aspect ratio."),
    )
    avif_effort: int = field(
        default=2,
        metadata=_doc("AVIF encoder effort: higher is smaller and slower (compression=fast uses 0).", (0, 9)),
    )
    avif_max_side: int = field(
        default=1200,
        metadata=_doc(
            "Longest side written as AVIF for format=auto; larger outputs fall back to WebP (or the legacy "
            "format when WebP is not accepted). Cloudflare's documented AVIF hard limit.",
            (1, None),
        ),
    )
    avif_max_side_explicit: int = field(
        default=1600,
        metadata=_doc(
            "Longest side written as AVIF when format=avif is asked for by name; larger outputs are written "
            "as WebP. Cloudflare's documented hard limit for explicit AVIF.",
            (1, None),
        ),
    )
    webp_effort: int = field(
        default=4,
        metadata=_doc("WebP encoder effort: higher is smaller and slower (compression=fast uses 0).", (0, 6)),
    )
    gif_effort: int = field(
        default=4,
        metadata=_doc("GIF palette effort: higher is better colour, much slower (compression=fast uses 1).", (1, 10)),
    )
    svg_max_nodes: int = field(
        default=200_000,
        metadata=_doc(
            "Largest SVG accepted, in elements drawn: each copy a <use> makes counts (the 'billion laughs' "
            "of SVG). Larger documents are refused with 403 (Cf-Resized: err=9413).",
            (1, None),
        ),
    )

    # --- serving (enlarger serve)
    host: str = field(default="127.0.0.1", metadata=_doc("Address the server listens on."))
    port: int = field(default=8080, metadata=_doc("TCP port the server listens on.", (1, 65535)))
    tls_cert: str = field(
        default="",
        metadata=_doc(
            "PEM file with the certificate chain to serve HTTPS on host:port (with tls_key); empty: plain HTTP. "
            "For clients that only speak to https:// hosts (docs/integrations.md); behind a proxy, let it do TLS."
        ),
    )
    tls_key: str = field(default="", metadata=_doc("PEM file with the private key of tls_cert."))
    data_dir: Path = field(
        default=Path("enlarger-data"),
        metadata=_doc("Directory for the output cache (and, later, stored images); created if missing."),
    )
    origin: str = field(
        default="",
        metadata=_doc(
            "Where relative /cdn-cgi/image sources come from: a directory, or an http(s) base URL "
            "(trusted: private addresses allowed). Empty: <data_dir>/origin, created if missing."
        ),
    )
    allowed_hosts: tuple[str, ...] = field(
        default=(),
        metadata=_doc(
            "Origins whose absolute http(s) URLs may be fetched as sources: a domain (example.com, that "
            "host only; *.example.com, it and all subdomains) with an optional path prefix "
            "(example.com/images). Only the first URL is checked. Empty: absolute sources are refused."
        ),
    )
    fetch_allowed_networks: tuple[str, ...] = field(
        default=(),
        metadata=_doc(
            "CIDR networks that remote fetches may reach although they are loopback, private, link-local "
            "or otherwise internal (e.g. 10.1.2.0/24). Empty: all internal addresses are refused."
        ),
    )
    fetch_connect_timeout: float = field(
        default=5.0, metadata=_doc("Seconds allowed to connect to a remote source (per hop).", (0.01, None))
    )
    fetch_timeout: float = field(
        default=20.0,
        metadata=_doc("Seconds allowed for a whole remote fetch, redirects and body included.", (0.01, None)),
    )
    fetch_max_redirects: int = field(default=5, metadata=_doc("Redirects followed per remote fetch.", (0, 20)))
    origin_revalidate_seconds: int = field(
        default=60,
        metadata=_doc(
            "How long a fetched source's identity is trusted before the origin is asked again "
            "(conditionally); cache hits within it need no origin request."
        ),
    )
    cache_max_bytes: int = field(
        default=1024**3, metadata=_doc("Size bound of the on-disk output cache; least recently used entries go first.")
    )
    cache_memory_bytes: int = field(
        default=128 * 1024**2,
        metadata=_doc(
            "Bytes of the most used cached outputs also kept in memory, so their hits read no file; "
            "0 turns the memory layer off."
        ),
    )
    source_cache_bytes: int = field(
        default=1024**3,
        metadata=_doc(
            "Size bound of the on-disk cache of remote originals (an HTTP origin, allowed_hosts URLs, hosted "
            "images on S3 storage): each is downloaded once (a remote source revalidated with its "
            "ETag/Last-Modified) instead of for every output; least recently used go first; 0 turns it off."
        ),
    )
    decode_cache_bytes: int = field(
        default=256 * 1024**2,
        metadata=_doc(
            "Bytes of decoded sources kept in memory (reduced, oriented, sRGB copies held by libvips), so a "
            "burst of outputs of one source (srcset widths, format=auto) decodes it once, not once per output "
            "(docs/performance.md, the decoded-copy cache); 0 turns it off."
        ),
    )
    cache_control_max_age: int = field(
        default=172_800,
        metadata=_doc("max-age (seconds) in Cache-Control of transformed responses (Cloudflare's 2-day browser TTL)."),
    )
    concurrency: int = field(
        default=0,
        metadata=_doc(
            "Transformations running at once; 0 means two per CPU core (a worker between two requests, or "
            "waiting for the GIL, leaves its core to the other: with one per core a server of misses used "
            "1.7 of 2 cores, with two 1.9; docs/performance.md).",
            (0, 1024),
        ),
    )
    queue_size: int = field(
        default=32,
        metadata=_doc("Transformations allowed to wait for a worker; past it requests get 503 at once.", (0, 100_000)),
    )
    transform_timeout: float = field(
        default=30.0, metadata=_doc("Seconds one transformation may run before it is stopped.", (0.01, None))
    )
    processes: int = field(
        default=1,
        metadata=_doc(
            "Server processes sharing the port (SO_REUSEPORT), each with its own event loop; 0 means one per "
            "CPU core. concurrency, queue_size, cache_max_bytes, cache_memory_bytes, source_cache_bytes and "
            "decode_cache_bytes are totals split between them.",
            (0, 256),
        ),
    )

    # --- request limits, timeouts and guessing (docs/security.md#request-limits-and-timeouts)
    max_header_bytes: int = field(
        default=64 * 1024,
        metadata=_doc(
            "Largest request head (request line and headers) in bytes; a larger one gets 431 and the "
            "connection is closed before the rest is read.",
            (1024, None),
        ),
    )
    max_header_count: int = field(
        default=100,
        metadata=_doc("Most header fields one request may carry; more get 431 and the connection closes.", (1, None)),
    )
    header_timeout: float = field(
        default=10.0,
        metadata=_doc(
            "Seconds a client has to send a whole request head, from the connection (or the request's first "
            "byte on a kept-alive one); past it: 408 and the connection is closed (slowloris).",
            (0.1, None),
        ),
    )
    body_timeout: float = field(
        default=30.0,
        metadata=_doc(
            "Seconds a request body may go without a byte arriving while the server waits for it; past it: "
            "408 and the connection is closed (slow bodies).",
            (0.1, None),
        ),
    )
    keep_alive_timeout: float = field(
        default=5.0,
        metadata=_doc("Seconds an idle kept-alive connection stays open between requests.", (0.1, None)),
    )
    auth_failures_allowed: int = field(
        default=10,
        metadata=_doc(
            "Failed sign-ins and API token checks one client address (IPv6: its /64) may make per "
            "auth_failures_window; past it, 429 with Retry-After. Counted per server process. 0: no limit.",
        ),
    )
    auth_failures_window: float = field(
        default=60.0,
        metadata=_doc("Seconds over which auth_failures_allowed counts a client's failures.", (1, None)),
    )
    metrics_token: str = field(
        default="",
        metadata=_doc(
            "When set, /metrics answers only requests with 'Authorization: Bearer <metrics_token>' (401 otherwise)."
        ),
    )
    metrics_per_account: bool = field(
        default=False,
        metadata=_doc(
            "Export the per-account usage series (enlarger_usage_*, labelled with account ids) on /metrics. "
            "Off: only totals, so /metrics names no tenant."
        ),
    )

    # --- hosting (images API, delivery, storage, catalog)
    database_url: str = field(
        default="",
        metadata=_doc(
            "Catalog database (SQLAlchemy URL), e.g. postgresql+psycopg://user:pw@host/db. "
            "Empty: SQLite (WAL) at <data_dir>/catalog.db."
        ),
    )
    storage: str = field(
        default="local",
        metadata=_doc("Where originals are stored: local (under <data_dir>/originals) or s3.", choices=("local", "s3")),
    )
    s3_endpoint: str = field(
        default="", metadata=_doc("S3-compatible endpoint URL (storage=s3); empty: AWS's default for the region.")
    )
    s3_bucket: str = field(default="", metadata=_doc("Bucket holding originals (storage=s3)."))
    s3_prefix: str = field(
        default="originals/",
        metadata=_doc("Key prefix for originals inside the bucket; must end in / (orphan cleanup stays inside it)."),
    )
    s3_region: str = field(default="us-east-1", metadata=_doc("Region of the bucket (storage=s3)."))
    s3_access_key_id: str = field(default="", metadata=_doc("Access key (storage=s3); empty: boto3's usual chain."))
    s3_secret_access_key: str = field(default="", metadata=_doc("Secret key that goes with s3_access_key_id."))
    s3_connect_timeout: float = field(
        default=3.0,
        metadata=_doc("Seconds to open a connection to S3 before the attempt fails (storage=s3).", (0.1, None)),
    )
    s3_read_timeout: float = field(
        default=10.0,
        metadata=_doc(
            "Seconds S3 may stay silent within one request before the attempt fails (storage=s3); bounds how "
            "long a hung S3 holds a storage thread.",
            (0.1, None),
        ),
    )
    s3_max_attempts: int = field(
        default=2, metadata=_doc("Attempts per S3 call, the first included (storage=s3); 1: no retries.", (1, 10))
    )
    storage_concurrency: int = field(
        default=8,
        metadata=_doc(
            "Storage calls (uploads, original reads, deletions) running at once in this process, on threads of "
            "their own: a hung storage holds at most these, never the threads catalog lookups and cache hits use.",
            (1, 256),
        ),
    )
    result_storage: str = field(
        default="",
        metadata=_doc(
            "Shared result tier: s3 keeps every output produced in S3 (the s3_* connection settings) so a miss "
            "on one replica is a hit from another's work; consulted after the local disk cache. Empty: off.",
            choices=("", "s3"),
        ),
    )
    result_s3_bucket: str = field(
        default="", metadata=_doc("Bucket of the shared result tier; empty: s3_bucket (under result_s3_prefix).")
    )
    result_s3_prefix: str = field(
        default="results/",
        metadata=_doc("Key prefix of the shared result tier; must differ from s3_prefix and end in /."),
    )
    result_timeout: float = field(
        default=1.0,
        metadata=_doc(
            "Seconds a read of the shared result tier may take before it counts as a miss (writes happen "
            "after the answer); a slow or failing tier never fails a request.",
            (0.05, None),
        ),
    )
    public_url: str = field(
        default="",
        metadata=_doc(
            "Base URL clients reach this service at, used in delivery and direct-upload URLs "
            "(e.g. https://images.example.com). Empty: taken from each request's Host."
        ),
    )
    image_quota: int = field(
        default=100_000, metadata=_doc("Images an account may store (stats count.allowed); uploads past it get 429.")
    )
    max_upload_bytes: int = field(
        default=10 * 1024 * 1024,
        metadata=_doc("Largest upload accepted by the images API and direct uploads, in bytes (Cloudflare: 10 MB)."),
    )
    catalog_cache_seconds: float = field(
        default=1.0,
        metadata=_doc(
            "How long a replica trusts a delivery lookup (account, image, variant, keys) before asking the "
            "catalog again. Changes made through this replica's API apply at once; other replicas' within "
            "this time. 0: ask on every request."
        ),
    )
    orphan_grace_seconds: int = field(
        default=3600,
        metadata=_doc(
            "Age after which a stored blob with no catalog row (a crash mid-upload) is deleted by the "
            "cleanup that runs in the background at start and with `enlarger gc`."
        ),
    )

    # --- models (gravity=face, gravity=auto, segment=foreground)
    face_model: str = field(
        default="",
        metadata=_doc(
            "Path of an ONNX face detector replacing the built-in BlazeFace (full range); "
            "its format is told by face_model_kind. Empty: the built-in model."
        ),
    )
    face_model_kind: str = field(
        default="blazeface",
        metadata=_doc(
            "Format of face_model: blazeface (MediaPipe BlazeFace, 128² or 192² input), the only one supported.",
            choices=("blazeface",),
        ),
    )
    face_min_score: float = field(
        default=0.55,
        metadata=_doc(
            "Lowest detector score (0–1) counted as a face (0.55: best F1 on the labelled set, docs/models.md).", (0, 1)
        ),
    )
    segment_model: str = field(
        default="",
        metadata=_doc(
            "Path of the ONNX salient-object model behind segment=foreground (see scripts/fetch_models.py). "
            "Empty: segment=foreground answers 501."
        ),
    )
    segment_model_kind: str = field(
        default="isnet",
        metadata=_doc(
            "Adapter for segment_model: isnet (1024² input), u2net or u2netp (320²).",
            choices=("isnet", "u2net", "u2netp"),
        ),
    )
    segment_max_frames: int = field(
        default=8,
        metadata=_doc(
            "Most frames of an animation segment=foreground cuts out (the model runs once per frame); "
            "longer ones are refused with 403 (err=9413) unless anim=false asks for the first frame only.",
            (1, 10_000),
        ),
    )
    inference_device: str = field(
        default="auto",
        metadata=_doc(
            "Where models run: auto (CUDA when onnxruntime has it, else CPU), cpu or cuda.",
            choices=("auto", "cpu", "cuda"),
        ),
    )
    inference_concurrency: int = field(
        default=1,
        metadata=_doc("Model runs at once per process, apart from the transformation workers.", (1, 256)),
    )
    inference_threads: int = field(
        default=0, metadata=_doc("CPU threads per model run; 0 lets onnxruntime use every core.", (0, 256))
    )
    upscale_model: str = field(
        default="",
        metadata=_doc(
            "ONNX super-resolution model(s) behind upscale=generate, comma-separated, e.g. one 2× and one 4× "
            "(scripts/fetch_models.py makes models/esrgan-*-x2.onnx and -x4.onnx; the factor is read from "
            "the model's metadata). Empty: upscale=generate answers 501."
        ),
    )
    upscale_max_output_pixels: int = field(
        default=16_000_000,
        metadata=_doc(
            "Most pixels the super-resolution model may produce for one transformation (width × height, "
            "every pass and frame counted); larger upscale=generate requests are refused with 403 "
            "(Cf-Resized: err=9413).",
            (1, None),
        ),
    )
    binding_max_input_bytes: int = field(
        default=20 * 1024 * 1024,
        metadata=_doc(
            "Largest image one Images-binding call takes (its input, each drawn image, /info), in bytes: "
            "Cloudflare's binding accepts up to 20 MB (get-started/limits.mdx). max_input_bytes still bounds "
            "the whole request."
        ),
    )
    binding_listen: str = field(
        default="",
        metadata=_doc(
            "host:port for the Images binding's backend (POST /transform and /info, workerd's wire protocol), "
            "on a listener of its own beside the main one. Empty: not served. It transforms any bytes sent to "
            "it: keep it on a private address (see docs/binding.md)."
        ),
    )

    # --- Content Credentials (C2PA), see docs/provenance.md
    c2pa_preserve: bool = field(
        default=False,
        metadata=_doc(
            "Keep sources' Content Credentials (C2PA) through transformations with metadata=copyright or keep: "
            "the output gets a new manifest, with the source's as its parent, signed with c2pa_sign_cert/key. "
            "Without a signing identity transformed outputs carry no credentials."
        ),
    )
    c2pa_sign_cert: str = field(
        default="",
        metadata=_doc(
            "PEM file with the signing certificate chain (end-entity first, then intermediates; not the root). "
            "The certificate needs the digitalSignature key usage and an emailProtection or documentSigning EKU."
        ),
    )
    c2pa_sign_key: str = field(default="", metadata=_doc("PEM file with the private key of c2pa_sign_cert."))
    c2pa_sign_alg: str = field(
        default="es256",
        metadata=_doc(
            "Signature algorithm matching the key: es256, es384 (ECDSA), ps256 (RSA-PSS) or ed25519.",
            choices=("es256", "es384", "ps256", "ed25519"),
        ),
    )
    c2pa_tsa_url: str = field(
        default="",
        metadata=_doc(
            "RFC 3161 time-stamp authority asked to countersign each manifest (a network request per signing). "
            "Empty: no time-stamp and no network use."
        ),
    )
    c2pa_trust_anchors: str = field(
        default="",
        metadata=_doc(
            "PEM file of extra root certificates trusted when sources' credentials are validated (format=json, "
            "the ingredient status recorded in signed outputs, enlarger c2pa verify). Empty: none."
        ),
    )

    # --- bulk imports (enlarger import, /images/imports)
    import_s3_access_key_id: str = field(
        default="",
        metadata=_doc(
            "Access key for S3 import sources; empty: the standard AWS chain (AWS_ACCESS_KEY_ID, "
            "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ...). Never logged or stored with a job."
        ),
    )
    import_s3_secret_access_key: str = field(
        default="", metadata=_doc("Secret key that goes with import_s3_access_key_id.")
    )
    import_api_token: str = field(
        default="",
        metadata=_doc(
            "API token for images-api import sources (Cloudflare Images or another Enlarger); "
            "usually set as ENLARGER_IMPORT_API_TOKEN. Never logged or stored with a job."
        ),
    )
    import_api_token_urls: tuple[str, ...] = field(
        default=("https://api.cloudflare.com/client/v4",),
        metadata=_doc(
            "Base URLs import_api_token may be sent to in imports started through the API (a job's "
            "images-api:BASE must lie under one). A tenant's other base URL is refused with 400: the "
            "server's token never goes to a host a tenant names. enlarger import (the operator's own "
            "command) is not restricted."
        ),
    )
    import_s3_credential_endpoints: tuple[str, ...] = field(
        default=(),
        metadata=_doc(
            "S3 endpoints (URLs; 'aws' for AWS's own, i.e. no endpoint_url) where imports started "
            "through the API sign their requests with the import_s3_* keys or boto3's standard chain. "
            "Any other endpoint is read anonymously (unsigned requests: public buckets only). "
            "enlarger import (the operator's own command) always signs."
        ),
    )
    import_lease_seconds: float = field(
        default=30.0,
        metadata=_doc(
            "How long an import runner's claim on a job or an object lasts without a heartbeat; "
            "work of a runner that died is taken over after it.",
            (0.5, None),
        ),
    )
    import_poll_seconds: float = field(
        default=5.0,
        metadata=_doc("How often the server looks for import jobs to run or help with.", (0.1, None)),
    )
    # --- usage accounting and the dashboard
    transformation_quota: int = field(
        default=0,
        metadata=_doc(
            "Unique transformations an account may use in a sliding 30-day window (Cloudflare's billing unit); "
            "past it, new ones get 429 (err=9422) while those already counted keep serving. 0: unlimited. "
            "`enlarger accounts quota ID --transformations N` overrides it per account."
        ),
    )
    usage_flush_seconds: float = field(
        default=10.0,
        metadata=_doc(
            "How often delivery counts summed in memory are written to the catalog, idle or not (and at "
            "shutdown): the most a replica's counts lag, and what a kill -9 can lose.",
            (0.1, None),
        ),
    )
    purge_poll_seconds: float = field(
        default=1.0,
        metadata=_doc(
            "How often each replica reads the catalog's purge log and purges its own disk cache of what other "
            "replicas deleted or changed: the most a purge lags on another replica (docs/server.md).",
            (0.05, None),
        ),
    )
    purge_log_retention_seconds: int = field(
        default=7 * 86400,
        metadata=_doc(
            "How long purge log entries are kept: a replica down for longer than this misses older purges "
            "(clear its cache directory before starting it again).",
            (60, None),
        ),
    )
    purge_webhook_url: str = field(
        default="",
        metadata=_doc(
            "Where every purge is also POSTed as JSON (tags, account, reason, time), e.g. a relay that purges "
            "a CDN by tag; signed in X-Enlarger-Signature (docs/server.md); reached like the trusted origin, "
            "without following redirects. Empty: no webhook."
        ),
    )
    purge_webhook_secret: str = field(
        default="", metadata=_doc("The HMAC-SHA256 key of the purge webhook's X-Enlarger-Signature header.")
    )
    dashboard_session_seconds: int = field(
        default=8 * 3600,
        metadata=_doc("How long a dashboard sign-in lasts before the token must be entered again.", (60, None)),
    )

    # --- speed of cache misses (docs/performance.md)
    jpeg_shrink_margin: float = field(
        default=1.5,
        metadata=_doc(
            "JPEG shrink-on-load: the decoder scales by 1/2, 1/4 or 1/8 only when at least this factor is "
            "left for the final Lanczos resize. 2.0 is libvips thumbnail's rule (sharpest, slowest); 1.0 "
            "imgproxy's and thumbor's (fastest, moiré on fine textures); 1.5 costs ≈0.1 SSIMULACRA2 on average.",
            (1, 2),
        ),
    )
    vips_concurrency: int = field(
        default=1,
        metadata=_doc(
            "libvips threads per transformation in the server (its workers already run `concurrency` of "
            "them at once, so more threads per image only add hand-offs); 0: libvips' default (one per core).",
            (0, 1024),
        ),
    )
    # --- outputs: placeholders and JPEG XL (docs/outputs.md)
    json_placeholders: bool = field(
        default=True,
        metadata=_doc(
            "Add blurhash, thumbhash and dominant_color to format=json answers and the Images binding's info() "
            "(computed from a copy of at most 100 pixels a side of the requested crop; costs a small decode per "
            "answer)."
        ),
    )
    jxl_auto: bool = field(
        default=False,
        metadata=_doc("Let format=auto answer JPEG XL to clients whose Accept header lists image/jxl."),
    )
    jxl_effort: int = field(
        default=5,
        metadata=_doc(
            "JPEG XL encoder effort (compression=fast uses 1). 5, not libjxl's 7: on the photo corpus 7 made "
            "the same bytes at the same score for twice the CPU (docs/outputs.md).",
            (1, 9),
        ),
    )

    @property
    def workers(self) -> int:
        """The effective concurrency (``concurrency``, or two per core)."""
        return self.concurrency or 2 * (os.cpu_count() or 1)

    @property
    def process_count(self) -> int:
        """The effective number of server processes (``processes``, or the number of cores)."""
        return self.processes or os.cpu_count() or 1

    @property
    def catalog_url(self) -> str:
        """The configured database, or the embedded SQLite file inside ``data_dir``."""
        return self.database_url or f"sqlite:///{self.data_dir / 'catalog.db'}"

    @property
    def origin_location(self) -> str:
        """The configured origin, or the default directory inside ``data_dir``."""
        return self.origin or str(self.data_dir / "origin")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            low, high = f.metadata.get("range", (0, None))
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            if numeric and (value < low or (high is not None and value > high)):
                allowed = f"{low}–{high}" if high is not None else f"at least {low}"
                raise SettingsError(f"setting {f.name} must be {allowed}, got {value}")
            choices = f.metadata.get("choices", ())
            if choices and value not in choices:
                raise SettingsError(f"setting {f.name} must be one of {', '.join(choices)}, got {value!r}")
        if not self.s3_prefix.endswith("/"):
            raise SettingsError(f"setting s3_prefix must end in '/', got {self.s3_prefix!r}")
        if self.result_storage and (not self.result_s3_prefix.endswith("/") or self.result_s3_prefix == self.s3_prefix):
            raise SettingsError("setting result_s3_prefix must end in '/' and differ from s3_prefix")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise SettingsError("settings tls_cert and tls_key go together: give both or neither")
        if bool(self.c2pa_sign_cert) != bool(self.c2pa_sign_key):
            raise SettingsError("settings c2pa_sign_cert and c2pa_sign_key go together: give both or neither")
        if self.c2pa_tsa_url and not self.c2pa_tsa_url.startswith(("http://", "https://")):
            raise SettingsError(f"setting c2pa_tsa_url must be an http(s) URL, got {self.c2pa_tsa_url!r}")


def _convert(name: str, kind: Any, raw: object) -> object:
    try:
        if kind is bool:  # c2pa_preserve: a TOML boolean, or a word in the environment
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                raise ValueError(raw)
            return text in ("1", "true", "yes", "on")
        if kind is int:
            if isinstance(raw, bool):
                raise ValueError(raw)
            return int(str(raw).replace("_", ""))
        if kind is float:
            return float(str(raw))
        if kind is Path:
            return Path(str(raw)).expanduser()
        if kind == tuple[str, ...]:
            items = raw if isinstance(raw, (list, tuple)) else str(raw).split(",")
            return tuple(str(item).strip() for item in items if str(item).strip())
        return str(raw)
    except ValueError as exc:
        raise SettingsError(f"setting {name}: cannot read {raw!r} as {getattr(kind, '__name__', kind)}") from exc


def load_settings(
    config: Path | None = None,
    env: Mapping[str, str] | None = None,
    **overrides: object,
) -> Settings:
    """Build settings from defaults, the TOML file, the environment and explicit overrides."""
    env = os.environ if env is None else env
    hints = get_type_hints(Settings)
    known = {f.name for f in dataclasses.fields(Settings)}
    values: dict[str, object] = {}
    path = config or (Path(env[f"{ENV_PREFIX}CONFIG"]) if env.get(f"{ENV_PREFIX}CONFIG") else None)
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"cannot read settings file {path}: {exc}") from exc
        unknown = set(data) - known
        if unknown:
            raise SettingsError(f"unknown settings in {path}: {', '.join(sorted(unknown))}")
        values.update(data)
    for name in known:
        key = f"{ENV_PREFIX}{name.upper()}"
        if key in env:
            values[name] = env[key]
    values.update({k: v for k, v in overrides.items() if v is not None})
    converted: dict[str, Any] = {name: _convert(name, hints[name], raw) for name, raw in values.items()}
    return Settings(**converted)


T = TypeVar("T")


class PerSettings(Generic[T]):
    """A value computed once per (immutable) settings object; hits compare identity, not 100 fields.

    For what is derived from settings on a hot path (C2PA identities, cache-key tokens, an
    account's variant of the settings): a server builds one settings object, tests build many.
    """

    def __init__(self, build: Callable[[Settings], T]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._entries: dict[int, tuple[Settings, T]] = {}

    def __call__(self, settings: Settings) -> T:
        entry = self._entries.get(id(settings))
        if entry is not None and entry[0] is settings:
            return entry[1]
        with self._lock:
            value = self._build(settings)
            if len(self._entries) > 64:  # tests build many settings; a server builds one
                self._entries.clear()
            self._entries[id(settings)] = (settings, value)  # holding settings keeps its id unique
            return value
