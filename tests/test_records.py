"""Image records as the API returns them: Cloudflare's fields, plus Enlarger's placeholders."""

from __future__ import annotations

from datetime import UTC, datetime

from enlarger.catalog.store import Image
from enlarger.records import ImageRecords

_MARKS = {
    "blurhash": "LEHV6nWB2yk8pyo0adR*.7kCMdnj",
    "thumbhash": "1QcSHQRnh493V4dIh4eXh1h4kJUI",
    "dominant_color": "#aabbcc",
}


def _image(placeholders: dict[str, str] | None) -> Image:
    return Image(
        account_id="a" * 32,
        id="cat",
        filename="cat.jpg",
        creator=None,
        uploaded=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        require_signed=False,
        meta={},
        draft=False,
        size=10,
        content_type="image/jpeg",
        width=4,
        height=3,
        content_hash="0" * 64,
        blob_key="k",
        placeholders=placeholders,
    )


def test_record_carries_the_stored_placeholders() -> None:
    record = ImageRecords("https://img.example", "h", ("public",)).record(_image(_MARKS))
    assert {key: record[key] for key in _MARKS} == _MARKS
    assert record["variants"] == ["https://img.example/h/cat/public"]


def test_record_of_an_image_uploaded_before_placeholders_has_no_such_fields() -> None:
    record = ImageRecords("https://img.example", "h", ("public",)).record(_image(None))
    assert not set(_MARKS) & set(record)
