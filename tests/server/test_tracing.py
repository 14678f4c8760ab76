"""Traces of real requests, exported over OTLP to a receiver on loopback and decoded there."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from enlarger import tracing
from enlarger.options import parse_options
from tests.imaging import quadrants, save
from tests.live import Origin, serve
from tests.otlp import Receiver, Span, grpc_receiver, http_receiver
from tests.server.conftest import Start, Tenant, open_tenant

SERVER, CLIENT = 2, 3  # the protocol's SpanKind values
ERROR = 2  # the protocol's status code
CALLER_TRACE, CALLER_SPAN = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"


@pytest.fixture
def otlp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    """An OTLP/HTTP receiver, and the environment that points the next app at it."""
    with http_receiver() as (receiver, endpoint):
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        monkeypatch.setenv("OTEL_SERVICE_NAME", "enlarger-under-test")
        try:
            yield receiver
        finally:
            tracing.shutdown()


def _children(receiver: Receiver, span: Span) -> dict[str, Span]:
    """``span``'s direct children by name (each name once)."""
    below = receiver.tree(span).get(span.span_id, [])
    named = {s.name: s for s in below}
    assert len(named) == len(below), [s.name for s in below]
    return named


def test_a_miss_is_one_server_span_with_the_work_below_it(start: Start, origin_dir: Path, otlp: Receiver) -> None:
    client = start()
    options = "width=100,height=100,fit=crop,blur=2,format=png"
    response = client.get(f"/cdn-cgi/image/{options}/photo.jpg")
    assert response.status_code == 200
    assert response.headers["x-enlarger-cache"] == "MISS"
    [root] = otlp.wait_for_root("GET transform")
    assert (root.kind, root.parent, root.service) == (SERVER, "", "enlarger-under-test")
    assert root.attributes["http.response.status_code"] == 200
    assert root.attributes["enlarger.cache"] == "MISS"
    assert root.attributes["enlarger.options"] == parse_options(options).canonical()
    assert root.attributes["enlarger.output.format"] == "png"
    assert (root.attributes["enlarger.output.width"], root.attributes["enlarger.output.height"]) == (100, 100)
    assert root.attributes["http.response.body.size"] == len(response.content)
    assert root.attributes["enlarger.request_id"] == response.headers["x-request-id"]
    children = _children(otlp, root)
    assert set(children) == {"cache read", "source read", "transform", "cache write"}
    assert children["source read"].attributes["enlarger.source.bytes"] == (origin_dir / "photo.jpg").stat().st_size
    work = _children(otlp, children["transform"])
    assert {"decode", "step crop", "step blur", "encode"} <= set(work)
    assert "step border" not in work  # a step whose option is absent did not run, and has no span
    assert work["decode"].attributes["enlarger.input.format"] == "jpeg"
    assert (work["decode"].attributes["enlarger.input.width"], work["decode"].attributes["enlarger.input.height"]) == (
        640,
        480,
    )
    assert work["encode"].attributes["enlarger.output.format"] == "png"


def test_a_hit_reads_the_cache_and_continues_the_callers_trace(start: Start, otlp: Receiver) -> None:
    client = start()
    url = "/cdn-cgi/image/width=80/photo.jpg"
    client.get(url)
    traceparent = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"
    response = client.get(url, headers={"traceparent": traceparent})
    assert response.headers["x-enlarger-cache"] == "HIT"
    _, hit = otlp.wait_for_root("GET transform", 2)
    assert (hit.trace_id, hit.parent) == (CALLER_TRACE, CALLER_SPAN)
    assert hit.attributes["enlarger.cache"] == "HIT"
    assert hit.attributes["enlarger.options"] == parse_options("width=80").canonical()
    assert set(_children(otlp, hit)) == {"cache read"}  # nothing decoded, nothing stored


def test_a_request_the_caller_did_not_sample_exports_nothing(start: Start, otlp: Receiver) -> None:
    client = start()
    unsampled = f"00-{CALLER_TRACE}-{CALLER_SPAN}-00"  # the default sampler follows the caller's decision
    assert client.get("/cdn-cgi/image/width=60/photo.jpg", headers={"traceparent": unsampled}).status_code == 200
    assert client.get("/cdn-cgi/image/width=61/photo.jpg").status_code == 200
    [root] = otlp.wait_for_root("GET transform")
    assert root.trace_id != CALLER_TRACE
    assert {"cache read", "transform"} <= set(_children(otlp, root))
    assert [s.name for s in otlp.spans if s.trace_id == CALLER_TRACE] == []


def test_an_error_carries_its_code_and_the_failing_span(start: Start, otlp: Receiver) -> None:
    client = start()
    response = client.get("/cdn-cgi/image/width=100/broken.jpg")
    code = int(response.headers["cf-resized"].removeprefix("err="))
    assert response.status_code >= 400
    [root] = otlp.wait_for_root("GET transform")
    assert root.attributes["enlarger.error_code"] == code
    assert root.attributes["http.response.status_code"] == response.status_code
    transform = _children(otlp, root)["transform"]
    assert transform.status == ERROR
    assert "exception" in transform.events


def test_a_500_marks_the_server_span_as_failed(start: Start, otlp: Receiver) -> None:
    client = start()
    client.get("/cdn-cgi/image/width=100/photo.jpg")
    [ok] = otlp.wait_for_root("GET transform")
    assert ok.status != ERROR
    response = client.get("/cdn-cgi/image/width=100,segment=foreground/photo.jpg")  # no model configured
    assert response.status_code == 501
    _, unavailable = otlp.wait_for_root("GET transform", 2)
    assert unavailable.attributes["http.response.status_code"] == 501
    assert unavailable.status == ERROR


@pytest.fixture
def traced_tenant(start: Start, tmp_path: Path, otlp: Receiver) -> Iterator[Tenant]:
    opened = open_tenant(start, tmp_path / "data")
    with opened.sdk:
        yield opened


def test_an_upload_shows_its_catalog_and_storage_calls(traced_tenant: Tenant, otlp: Receiver) -> None:
    png = save(quadrants(64, 48), "png")
    response = traced_tenant.http.post(
        f"{traced_tenant.api}/v1", headers=traced_tenant.auth(), files={"file": ("q.png", png, "image/png")}
    )
    assert response.status_code == 200, response.text
    image_id = response.json()["result"]["id"]
    [root] = otlp.wait_for_root("POST api")
    assert root.attributes["http.response.status_code"] == 200
    spans = [s for group in otlp.tree(root).values() for s in group]
    [put] = [s for s in spans if s.name == "storage put"]
    assert put.attributes["enlarger.storage.bytes"] == len(png)
    assert put.attributes["enlarger.storage.backend"] == "LocalStorage"
    inserts = [s for s in spans if s.name == "catalog INSERT"]
    assert any("images" in str(s.attributes["db.statement"]) for s in inserts)
    assert all(s.attributes["db.system"] == "sqlite" for s in inserts)
    by_id = {s.span_id: s for s in spans} | {root.span_id: root}
    for span in (put, *inserts):  # each hangs, through its ancestors, from the request's span
        while span.parent != root.span_id:
            span = by_id[span.parent]
    assert image_id not in str([s.attributes for s in spans if s.name.startswith("catalog")])  # no values


def test_an_outgoing_fetch_propagates_the_trace(start: Start, otlp: Receiver) -> None:
    origin = Origin()
    origin.files["/remote/photo.jpg"] = save(quadrants(200, 100), "png")
    with serve(origin.app(), host="127.0.0.2") as base:
        client = start(origin=base)
        response = client.get("/cdn-cgi/image/width=50/remote/photo.jpg?sig=secret")
        assert response.status_code == 200, response.text
    [root] = otlp.wait_for_root("GET transform")
    fetch = _children(otlp, root)["GET"]  # located (fetched) before the cache is asked
    assert fetch.kind == CLIENT
    assert fetch.attributes["url.full"] == f"{base}/remote/photo.jpg"  # the query stays out
    assert fetch.attributes["http.response.status_code"] == 200
    [(_, headers)] = origin.requests
    version, trace_id, parent, flags = headers["traceparent"].split("-")
    assert (version, trace_id, parent) == ("00", root.trace_id, fetch.span_id)  # the origin's parent: our fetch
    assert int(flags, 16) & 1  # sampled


def test_grpc_export(start: Start, monkeypatch: pytest.MonkeyPatch) -> None:
    with grpc_receiver() as (receiver, endpoint):
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")
        try:
            client = start()
            assert client.get("/healthz").status_code == 200
            [root] = receiver.wait_for_root("GET healthz")
        finally:
            tracing.shutdown()
    assert (root.kind, root.service) == (SERVER, "enlarger")  # the default service name


def test_logs_carry_the_span_they_were_written_under(
    start: Start, otlp: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    client = start()
    with caplog.at_level("INFO"):
        response = client.get("/cdn-cgi/image/width=100/broken.jpg")
        [root] = otlp.wait_for_root("GET transform")
    request_id = response.headers["x-request-id"]
    assert request_id == root.attributes["enlarger.request_id"]
    [access] = [json.loads(r.getMessage()) for r in caplog.records if r.name == "enlarger.access"]
    [error] = [json.loads(r.getMessage()) for r in caplog.records if r.name == "enlarger.server"]
    for line in (access, error):  # both written under the request's span
        assert (line["request_id"], line["trace_id"], line["span_id"]) == (request_id, root.trace_id, root.span_id)
