"""Three real ``enlarger serve`` processes on one PostgreSQL and one S3 bucket: replicas as one service
(issue 25), end to end over loopback.

The test starts its own PostgreSQL (which it crashes and restarts), moto's S3 server behind a
forwarder it can cut, a purge webhook receiver, and three server processes at the same moment on
the fresh database. Each process has its own data directory and port and reads the same settings
file, as replicas behind a load balancer would. The scenarios run in order on that one fleet
(starting it is most of the cost); each prints what it measured, nothing is timed by an assertion:
every wait is bounded generously for a loaded CI machine and the measured delays are printed.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from cloudflare import Cloudflare
from cloudflare.types.images.v1.variant_edit_params import Options
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from enlarger.catalog.store import Account, Catalog
from enlarger.catalog.usage_store import UsageStore
from tests.backends import PostgresServer, fresh_database, make_bucket, running_postgres, s3_server
from tests.forwarder import Forwarder, forwarding
from tests.imaging import decode, gradient, save
from tests.live import free_port, serve, wait_for

NODES = ("a", "b", "c")
SECRET = "fleet webhook secret"
JPEG = {"Accept": "image/jpeg"}  # the same on every node, so one output has one key everywhere
START = 120  # seconds three servers may take to start on a loaded 2-core machine
SETTLE = 30  # bound of every other wait: generous, never asserted as a speed
POLL = 0.05  # between questions that cost the servers work (readiness, deliveries, catalog reads)

# Each server dies with the test process, even when pytest-timeout ends it with os._exit (no
# ``finally`` runs then): PR_SET_PDEATHSIG is set before exec'ing the server, and kept by exec.
_DIE_WITH_PARENT = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None).prctl(1, signal.SIGKILL)\n"
    "if os.getppid() != int(sys.argv[1]): os._exit(1)\n"
    "os.execv(sys.executable, [sys.executable, *sys.argv[2:]])\n"
)


@dataclass
class Node:
    """One replica: an ``enlarger serve`` process with its own port and data directory."""

    name: str
    process: subprocess.Popen[bytes]
    data_dir: Path
    log: Path
    http: httpx.Client

    def ready(self) -> bool:
        try:
            return self.http.get("/readyz").status_code == 200
        except httpx.TransportError:
            return False

    def outputs(self) -> set[str]:
        """The keys of the outputs in this replica's disk cache."""
        return {path.name for path in (self.data_dir / "cache").glob("??/*") if path.is_file()}

    def metric(self, name: str) -> float:
        for line in self.http.get("/metrics").text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise AssertionError(f"{self.name}: no {name} in /metrics")

    def tail(self) -> str:
        return f"--- {self.name}'s log:\n" + self.log.read_text(errors="replace")[-3000:]


@dataclass
class Fleet:
    nodes: dict[str, Node]
    account: Account
    token: str
    sdk: Cloudflare
    s3: Forwarder
    s3_endpoint: str  # moto itself, for the test's own look at the bucket
    bucket: str
    database: str
    postgres: PostgresServer
    hook: Receiver

    @property
    def api(self) -> str:
        return f"/client/v4/accounts/{self.account.id}/images"

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def url(self, image_id: str, variant: str = "public") -> str:
        return f"/{self.account.hash}/{image_id}/{variant}"

    def objects(self, prefix: str) -> list[str]:
        """Keys under ``prefix`` in the bucket, read from moto directly (not through the forwarder)."""
        client = boto3.client(
            "s3",
            endpoint_url=self.s3_endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        return sorted(
            item["Key"] for item in client.list_objects_v2(Bucket=self.bucket, Prefix=prefix).get("Contents", [])
        )


class Receiver:
    """The purge webhook's receiver (a CDN relay stand-in): records each POST and when it came."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, Any], float]] = []
        self.bad_signatures = 0

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            body = await request.body()
            signed = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()  # docs/server.md
            if request.headers.get("x-enlarger-signature") != signed:
                self.bad_signatures += 1
            self.received.append((json.loads(body), time.monotonic()))
            return Response(status_code=204)

        return Starlette(routes=[Route("/purge", hook, methods=["POST"])])

    def got(self, reason: str, tag: str) -> float | None:
        """When a purge of ``tag`` for ``reason`` arrived, if it did."""
        for body, at in self.received:
            if body["reason"] == reason and tag in body["tags"]:
                return at
        return None


@contextmanager
def _servers(tmp_path: Path, config: Path) -> Iterator[dict[str, Node]]:
    """Three ``enlarger serve`` processes started at the same moment; stopped (killed if need be) at the end."""
    origin = tmp_path / "origin"
    origin.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENLARGER_")}
    nodes: dict[str, Node] = {}
    try:
        for name in NODES:
            port, data_dir, log = free_port(), tmp_path / f"node-{name}", tmp_path / f"node-{name}.log"
            command = [sys.executable, "-c", _DIE_WITH_PARENT, str(os.getpid()), "-m", "enlarger.cli"]
            command += ["--config", str(config), "serve", "--port", str(port), "--data-dir", str(data_dir)]
            command += ["--origin", str(origin)]
            with log.open("wb") as handle:
                process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=handle, env=env)
            http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
            nodes[name] = Node(name, process, data_dir, log, http)
        yield nodes
    finally:
        for node in nodes.values():
            node.http.close()
            if node.process.poll() is None:
                node.process.terminate()
        for node in nodes.values():
            try:
                node.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                node.process.kill()
                node.process.wait()


def _settings_file(path: Path, values: dict[str, Any]) -> Path:
    path.write_text("".join(f"{name} = {json.dumps(value)}\n" for name, value in values.items()), encoding="utf-8")
    return path


def _outage(answer: httpx.Response) -> bool:
    return answer.status_code == 503 and int(answer.headers.get("Retry-After", "0")) > 0


def _print(text: str) -> None:
    """A measurement, in the test's captured output: shown with ``-rP`` or ``-s``, and beside any failure."""
    print(f"replicas: {text}")


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with ExitStack() as stack:
        postgres = stack.enter_context(running_postgres())
        s3_endpoint = stack.enter_context(s3_server())
        s3 = stack.enter_context(forwarding(s3_endpoint))
        hook = Receiver()
        hook_url = stack.enter_context(serve(hook.app()))
        database, bucket = fresh_database(postgres.url), make_bucket(s3_endpoint)
        config = _settings_file(
            tmp_path / "fleet.toml",
            {
                "database_url": database,
                "storage": "s3",
                "s3_endpoint": s3.url,
                "s3_bucket": bucket,
                "s3_access_key_id": "test",
                "s3_secret_access_key": "test",
                "result_storage": "s3",
                "catalog_cache_seconds": 0.5,
                "purge_poll_seconds": 0.2,
                "usage_flush_seconds": 1.0,
                "purge_webhook_url": f"{hook_url}/purge",
                "purge_webhook_secret": SECRET,
            },
        )
        started = time.monotonic()
        nodes = stack.enter_context(_servers(tmp_path, config))
        # all three migrate the fresh database at once (issue 25.2): each must become ready
        wait_for(lambda: all(n.ready() or n.process.poll() is not None for n in nodes.values()), START, POLL)
        for node in nodes.values():
            assert node.process.poll() is None, node.tail()
        _print(f"3 replicas started together on a fresh database: all ready in {time.monotonic() - started:.1f} s")

        catalog = Catalog(database)
        account = catalog.create_account("fleet")
        _, token = catalog.create_token(account.id)
        catalog.close()
        base = str(nodes["a"].http.base_url).rstrip("/")
        with Cloudflare(api_token=token, base_url=f"{base}/client/v4", max_retries=0) as sdk:
            yield Fleet(nodes, account, token, sdk, s3, s3_endpoint, bucket, database, postgres, hook)


def _upload(fleet: Fleet, image_id: str | None, data: bytes) -> str:
    """Upload through A with the SDK; ``None``: a generated id (only those may require signed URLs)."""
    file = ("upload.jpg", io.BytesIO(data), "image/jpeg")
    if image_id is None:
        made = fleet.sdk.images.v1.create(account_id=fleet.account.id, file=file)
    else:
        made = fleet.sdk.images.v1.create(account_id=fleet.account.id, file=file, id=image_id)
    assert made.id is not None and made.id == (image_id or made.id)
    return made.id


def _spread(fleet: Fleet, path: str) -> str:
    """Deliver ``path`` on A first (a miss), then on B and C; returns the output's key, now on every disk."""
    a = fleet.nodes["a"]
    before = a.outputs()
    first = a.http.get(path, headers=JPEG)
    assert first.status_code == 200 and first.headers["X-Enlarger-Cache"] == "MISS", (first.status_code, first.text)
    [key] = a.outputs() - before
    for name in ("b", "c"):
        node = fleet.nodes[name]
        answer = node.http.get(path, headers=JPEG)
        assert answer.status_code == 200, (name, answer.text)
        assert answer.content == first.content  # the same output, wherever it was made
        assert key in node.outputs()
    return key


def _tag(kind: str, fleet: Fleet, name: str) -> str:
    """The ``Cache-Tag`` name of an image (``img``) or variant (``var``), as docs/server.md spells it."""
    return f"{kind}-{fleet.account.id}-{hashlib.sha256(name.encode()).hexdigest()[:16]}"


def _purge(fleet: Fleet, key: str, tag: str, reason: str, change: Callable[[], object]) -> str:
    """Make ``change`` through A; how long after it answered ``key`` left B's and C's disks, and the
    webhook got the purge (negative: before the API answer reached the client)."""
    change()
    changed = time.monotonic()
    assert key not in fleet.nodes["a"].outputs()  # the replica that made the change purged before answering
    assert fleet.objects(f"results/entries/{key}") == []  # and the shared tier's copy
    gone: dict[str, float] = {}

    def purged_everywhere() -> bool:
        for name in ("b", "c"):
            if name not in gone and key not in fleet.nodes[name].outputs():
                gone[name] = time.monotonic() - changed
        return len(gone) == 2

    wait_for(purged_everywhere, timeout=SETTLE)
    wait_for(lambda: fleet.hook.got(reason, tag) is not None, timeout=SETTLE)
    hooked = (fleet.hook.got(reason, tag) or changed) - changed
    return f"{reason}: B {gone['b']:.2f} s, C {gone['c']:.2f} s, webhook {hooked * 1000:+.0f} ms"


def _answer_everywhere(
    fleet: Fleet, path: str, expected: Callable[[httpx.Response], bool], meanwhile: set[int]
) -> None:
    """Each node answers ``path`` as ``expected`` once its remembered lookups expired (catalog_cache_seconds);
    until then only with a status of ``meanwhile`` (the old answer, or the new one: never an error)."""

    def settled(node: Node) -> bool:
        answer = node.http.get(path, headers=JPEG)
        assert answer.status_code in meanwhile, (node.name, path, answer.status_code, answer.text)
        return expected(answer)

    for node in fleet.nodes.values():
        wait_for(partial(settled, node), SETTLE, POLL)


def _delivered(usage: UsageStore, account_id: str) -> tuple[int, int]:
    """Deliveries (images, bytes) the catalog holds for ``account_id`` around today (UTC)."""
    today = datetime.now(UTC).date()
    days = usage.usage(account_id, today - timedelta(days=1), today + timedelta(days=1))
    return sum(d.delivered_images for d in days), sum(d.delivered_bytes for d in days)


def _image(width: int) -> bytes:
    """A JPEG of its own bytes (outputs are keyed by content: equal uploads would share them)."""
    return save(gradient(width, width * 3 // 4), "jpeg", Q=90)


def _upload_on_a_delivered_by_b_and_c(fleet: Fleet) -> str:
    _upload(fleet, "photo", _image(640))
    _spread(fleet, fleet.url("photo"))
    for name in ("b", "c"):
        delivered = decode(fleet.nodes[name].http.get(fleet.url("photo"), headers=JPEG).content)
        assert (delivered.width, delivered.height) == (640, 480)
    return "upload through A delivered by B and C: 640×480 decoded on each"


def _a_miss_on_a_is_a_hit_on_b(fleet: Fleet) -> tuple[str, str, bytes]:
    """The shared result tier; returns the thumb variant's URL, its output key and its bytes."""
    a, b = fleet.nodes["a"], fleet.nodes["b"]
    fleet.sdk.images.v1.variants.create(
        account_id=fleet.account.id,
        id="thumb",
        options={"fit": "scale-down", "width": 100, "height": 100, "metadata": "none"},
    )
    thumb = fleet.url("photo", "thumb")
    before = a.outputs()
    made = a.http.get(thumb, headers=JPEG)
    assert made.headers["X-Enlarger-Cache"] == "MISS"
    [key] = a.outputs() - before
    wait_for(lambda: fleet.objects(f"results/entries/{key}") != [], SETTLE, POLL)  # written after answering
    transformed = b.metric("enlarger_transform_seconds_count")
    shared = b.http.get(thumb, headers=JPEG)
    assert shared.status_code == 200 and shared.headers["X-Enlarger-Cache"] == "HIT-SHARED"
    assert shared.content == made.content and decode(shared.content).width == 100
    assert b.metric("enlarger_transform_seconds_count") == transformed  # B transformed nothing
    assert key in b.outputs()
    return thumb, key, made.content


def _s3_outage(fleet: Fleet, thumb: str, thumb_key: str, thumb_bytes: bytes) -> str:
    """S3 cut: B's disk hit is served, C's miss and an upload answer 503 + Retry-After, /readyz 503."""
    a, b, c = (fleet.nodes[name] for name in NODES)
    later = _image(240)
    fleet.s3.stop()
    hit = b.http.get(thumb, headers=JPEG)
    assert hit.status_code == 200 and hit.headers["X-Enlarger-Cache"] == "HIT" and hit.content == thumb_bytes
    assert thumb_key not in c.outputs()  # C never made it: the tier and the original are out of reach
    miss = c.http.get(thumb, headers=JPEG)
    assert _outage(miss) and "unavailable" in miss.text, (miss.status_code, miss.headers, miss.text)
    refused = a.http.post(f"{fleet.api}/v1", headers=fleet.auth(), data={"id": "later"}, files={"file": later})
    assert _outage(refused), (refused.status_code, refused.text)
    assert "image storage is unavailable" in refused.json()["errors"][0]["message"]
    for node in fleet.nodes.values():
        ready = node.http.get("/readyz")
        assert ready.status_code == 503 and "storage" in ready.text, (node.name, ready.text)
    fleet.s3.resume()
    wait_for(lambda: all(node.ready() for node in fleet.nodes.values()), SETTLE, POLL)
    again = c.http.get(thumb, headers=JPEG)
    assert again.status_code == 200 and again.content == thumb_bytes
    _upload(fleet, "later", later)
    return "S3 outage: hits 200, misses and uploads 503 + Retry-After, /readyz 503 everywhere; ready again after"


def _postgres_crash(fleet: Fleet) -> str:
    """PostgreSQL stopped at once and started again: 503 + Retry-After meanwhile, then answers again."""
    details = f"{fleet.api}/v1/photo"
    fleet.postgres.stop()
    down = time.monotonic()
    for node in fleet.nodes.values():
        answer = node.http.get(details, headers=fleet.auth())
        assert _outage(answer), (node.name, answer.status_code, answer.text)
        assert "catalog database is unavailable" in answer.json()["errors"][0]["message"]
        wait_for(lambda node=node: _outage(node.http.get(fleet.url("photo"), headers=JPEG)), SETTLE, POLL)  # type: ignore[misc]
        assert node.http.get("/readyz").status_code == 503
    fleet.postgres.start()
    wait_for(lambda: all(node.ready() for node in fleet.nodes.values()), SETTLE, POLL)
    for node in fleet.nodes.values():
        assert node.http.get(details, headers=fleet.auth()).status_code == 200
        assert node.http.get(fleet.url("photo"), headers=JPEG).status_code == 200
    return (
        f"PostgreSQL crash: 503 + Retry-After on every node; all ready {time.monotonic() - down:.1f} s after it stopped"
    )


def _usage_flush(fleet: Fleet) -> str:
    """Deliveries on C (then idle) reach the catalog by its timed flush; another account keeps the count exact."""
    a, c = fleet.nodes["a"], fleet.nodes["c"]
    catalog = Catalog(fleet.database)
    try:
        other = catalog.create_account("usage")
        _, token = catalog.create_token(other.id)
        uploaded = a.http.post(
            f"/client/v4/accounts/{other.id}/images/v1",
            headers={"Authorization": f"Bearer {token}"},
            data={"id": "counted"},
            files={"file": _image(200)},
        )
        assert uploaded.status_code == 200, uploaded.text
        sent = [c.http.get(f"/{other.hash}/counted/public", headers=JPEG) for _ in range(3)]
        assert [answer.status_code for answer in sent] == [200] * 3
        last = time.monotonic()
        expected = (3, sum(len(answer.content) for answer in sent))
        usage = UsageStore(catalog)
        wait_for(lambda: _delivered(usage, other.id) == expected, SETTLE, POLL)  # nothing more is asked of C
    finally:
        catalog.close()
    return f"3 deliveries on idle C in the catalog {time.monotonic() - last:.2f} s after the last (flush: 1 s)"


def _gc(tmp_path: Path, label: str, settings: dict[str, Any]) -> subprocess.Popen[str]:
    """``enlarger gc`` as an operator runs it, with ``settings`` in its own file (started, not waited for)."""
    config = _settings_file(tmp_path / f"gc-{label}.toml", settings)
    command = [sys.executable, "-m", "enlarger.cli", "--config", str(config), "gc", "--json"]
    command += ["--data-dir", str(tmp_path / f"gc-{label}")]  # where a missing database_url puts SQLite
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENLARGER_")}
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _gc_refuses_a_wrong_catalog(fleet: Fleet, tmp_path: Path) -> str:
    """``enlarger gc`` with the bucket's settings but a missing or wrong ``database_url`` deletes nothing."""
    originals = fleet.objects("originals/")  # and the ownership marker (.enlarger-catalog), which must stay too
    assert len([key for key in originals if key.count("/") == 2]) == 4  # photo, hidden, later, counted
    bucket_only = {
        "storage": "s3",
        "s3_endpoint": fleet.s3.url,
        "s3_bucket": fleet.bucket,
        "s3_access_key_id": "test",
        "s3_secret_access_key": "test",
        "orphan_grace_seconds": 0,  # every unreferenced blob is old enough: only the ownership check stands
    }
    wrong = {**bucket_only, "database_url": fresh_database(fleet.postgres.url)}
    refusals = {
        label: _gc(tmp_path, label, settings) for label, settings in (("missing", bucket_only), ("wrong", wrong))
    }
    for label, process in refusals.items():
        out, err = process.communicate(timeout=120)
        assert process.returncode == 6, (label, process.returncode, out, err)
        assert "check database_url; nothing was deleted" in err, (label, err)
    assert fleet.objects("originals/") == originals
    right = _gc(tmp_path, "right", {**bucket_only, "database_url": fleet.database})
    out, err = right.communicate(timeout=120)
    assert right.returncode == 0 and json.loads(out) == {"removed": 0}, (out, err)
    assert fleet.objects("originals/") == originals
    return "gc with a missing or a wrong database_url refused (exit 6), the 4 originals kept; the right one removed 0"


def test_three_replicas_behave_as_one_service(fleet: Fleet, tmp_path: Path) -> None:
    account = fleet.account.id
    images = fleet.sdk.images.v1
    _print(_upload_on_a_delivered_by_b_and_c(fleet))
    thumb, thumb_key, thumb_bytes = _a_miss_on_a_is_a_hit_on_b(fleet)
    _print("A's miss answered on B from the shared tier (HIT-SHARED, no transformation on B)")

    _upload(fleet, "gone", _image(400))
    hidden = _upload(fleet, None, _image(320))  # generated ids only may require signed URLs
    gone_key, hidden_key = _spread(fleet, fleet.url("gone")), _spread(fleet, fleet.url(hidden))
    delete = partial(images.delete, "gone", account_id=account)
    purges = [_purge(fleet, gone_key, _tag("img", fleet, "gone"), "image-deleted", delete)]
    _answer_everywhere(fleet, fleet.url("gone"), lambda answer: answer.status_code == 404, {200, 404})

    _print(_s3_outage(fleet, thumb, thumb_key, thumb_bytes))
    _print(_postgres_crash(fleet))

    # purges logged after the crash (PostgreSQL's sequences jump ahead then) reach everyone too
    private = partial(images.edit, hidden, account_id=account, require_signed_urls=True)
    purges.append(_purge(fleet, hidden_key, _tag("img", fleet, hidden), "image-changed", private))
    _answer_everywhere(fleet, fleet.url(hidden), lambda answer: answer.status_code == 403, {200, 403})
    assert thumb_key in fleet.nodes["c"].outputs()  # made on C once S3 was back
    smaller: Options = {"fit": "scale-down", "width": 60, "height": 60, "metadata": "none"}
    variant = partial(images.variants.edit, "thumb", account_id=account, options=smaller)
    purges.append(_purge(fleet, thumb_key, _tag("var", fleet, "thumb"), "variant-changed", variant))
    _answer_everywhere(fleet, thumb, lambda answer: decode(answer.content).width == 60, {200})
    assert fleet.hook.bad_signatures == 0
    _print("purge delays after the change answered on A — " + "; ".join(purges))

    _print(_usage_flush(fleet))
    _print(_gc_refuses_a_wrong_catalog(fleet, tmp_path))
    for node in fleet.nodes.values():
        assert node.process.poll() is None, node.tail()  # every outage was answered, none ended a replica
