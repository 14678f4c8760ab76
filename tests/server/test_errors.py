"""server.errors: a body says the public message only; the decoder's words are logged as one JSON line."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from enlarger.errors import CorruptImageError, OptionError, ProcessingError
from enlarger.server.errors import error_response
from tests.server.conftest import Start
from tests.test_codecs import HOSTILE


def _logged(caplog: pytest.LogCaptureFixture) -> list[tuple[int, dict[str, object]]]:
    return [(r.levelno, json.loads(r.getMessage())) for r in caplog.records if r.name == "enlarger.server"]


def test_the_body_carries_the_message_and_the_log_the_detail(caplog: pytest.LogCaptureFixture) -> None:
    error = ProcessingError("the image could not be processed", detail="vips_thing: secret internal words")
    with caplog.at_level(logging.INFO, logger="enlarger.server"):
        response = error_response(error)
    assert response.status_code == 500
    assert response.body == b"the image could not be processed\n"
    assert response.headers["cf-resized"] == "err=9523"
    [(level, line)] = _logged(caplog)
    assert level == logging.ERROR  # a processing error is reported as a bug
    assert line == {
        "error": "ProcessingError",
        "status": 500,
        "code": 9523,
        "message": "the image could not be processed",
        "detail": "vips_thing: secret internal words",
        "request_id": "",  # outside a request: the keys are there, empty (issue 29)
        "trace_id": "",
        "span_id": "",
    }


def test_a_refused_input_logs_its_detail_at_info_and_a_plain_refusal_logs_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="enlarger.server"):
        error_response(CorruptImageError("the PNG image is damaged", detail="libpng read error"), head=True)
        error_response(OptionError("width", "x", "an integer"))
    [(level, line)] = _logged(caplog)
    assert level == logging.INFO
    assert line["detail"] == "libpng read error"


def test_damaged_sources_answer_415_without_decoder_words(start: Start, origin_dir: Path) -> None:
    for name, build in HOSTILE.items():
        (origin_dir / name).write_bytes(build())
    client = start()
    for name in HOSTILE:
        response = client.get(f"/cdn-cgi/image/width=16/{name}")
        assert response.status_code == 415, (name, response.text)
        assert response.headers["cf-resized"] == "err=9520"
        assert response.text.startswith(f"the {name.split('-')[0].upper()} image is damaged"), response.text
        assert not any(word in response.text.lower() for word in ("vips", "libpng", "nsgif", "load error"))
