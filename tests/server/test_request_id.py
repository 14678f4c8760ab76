"""Request ids and the ids every log line carries, with tracing off (the default)."""

from __future__ import annotations

import json
import re

import pytest

from tests.server.conftest import Start

CALLER_TRACE, CALLER_SPAN = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"


def test_a_sane_request_id_is_kept_and_echoed(start: Start) -> None:
    client = start()
    for given in ("abc-123", "Root=1-67891233-abcdef012345678912345678", "a" * 128, "x/y+z=:@."):
        response = client.get("/healthz", headers={"X-Request-Id": given})
        assert response.headers["x-request-id"] == given


@pytest.mark.parametrize("given", [b"", b"a" * 129, b"has space", b"semi;colon", b'quote"d', "ünïcode".encode()])
def test_an_insane_request_id_is_replaced(start: Start, given: bytes) -> None:
    client = start()
    response = client.get("/healthz", headers={b"X-Request-Id": given})
    made = response.headers["x-request-id"]
    assert made.encode() != given
    assert re.fullmatch("[0-9a-f]{32}", made)


def test_each_request_without_an_id_gets_its_own_and_errors_echo_it_too(start: Start) -> None:
    client = start()
    ids = {client.get("/healthz").headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3
    assert all(re.fullmatch("[0-9a-f]{32}", made) for made in ids)
    failed = client.get("/cdn-cgi/image/width=100/nothing-here.jpg", headers={"X-Request-Id": "lost-1"})
    assert failed.status_code == 404
    assert failed.headers["x-request-id"] == "lost-1"


def test_access_and_error_lines_carry_the_ids(start: Start, caplog: pytest.LogCaptureFixture) -> None:
    client = start()
    with caplog.at_level("INFO"):
        response = client.get(
            "/cdn-cgi/image/width=100/broken.jpg",
            headers={"X-Request-Id": "req-42", "traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"},
        )
        plain = client.get("/cdn-cgi/image/width=100/photo.jpg")
    assert response.headers["cf-resized"].startswith("err=")
    access = [json.loads(r.getMessage()) for r in caplog.records if r.name == "enlarger.access"]
    [error] = [json.loads(r.getMessage()) for r in caplog.records if r.name == "enlarger.server"]
    # untraced, the lines still join the caller's trace: its trace id and its (parent) span id
    for line in (access[0], error):
        assert (line["request_id"], line["trace_id"], line["span_id"]) == ("req-42", CALLER_TRACE, CALLER_SPAN)
    assert access[0]["status"] == response.status_code
    assert (access[1]["request_id"], access[1]["trace_id"], access[1]["span_id"]) == (
        plain.headers["x-request-id"],
        "",
        "",
    )


def test_a_malformed_traceparent_is_not_logged(start: Start, caplog: pytest.LogCaptureFixture) -> None:
    client = start()
    with caplog.at_level("INFO"):
        client.get("/healthz", headers={"traceparent": f"00-{CALLER_TRACE.upper()}-{CALLER_SPAN}-01"})
        client.get("/healthz", headers={"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}"})
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "enlarger.access"]
    assert [(line["trace_id"], line["span_id"]) for line in lines] == [("", ""), ("", "")]
