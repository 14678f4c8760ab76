"""Content Credentials stay offline and off by default (docs/provenance.md): "remote manifests and
OCSP are never fetched", and with ``c2pa_preserve`` off a transformed output carries no manifest
even when a signing identity is configured.

The remote-manifest check uses a loopback canary: an image whose XMP names a manifest URL on it
(``dcterms:provenance``, where C2PA readers look for a remote manifest). Every path that reads
credentials — transforming, ``format=json``, ``enlarger c2pa verify`` — must leave it unasked.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import pyvips

from enlarger import provenance
from enlarger.cli import main
from enlarger.pipeline import transform
from enlarger.settings import Settings
from tests.credentials import has_manifest
from tests.imaging import gradient
from tests.test_provenance import Pki, photo, pki

__all__ = ["photo", "pki"]  # the signed photo and test PKI fixtures of tests/test_provenance.py


@pytest.fixture
def canary() -> Iterator[tuple[str, list[str]]]:
    """A loopback HTTP server recording every path asked of it; yields (base URL, paths)."""
    asked: list[str] = []

    class Record(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Record)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()


def _naming_a_remote_manifest(url: str) -> bytes:
    xmp = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" xmlns:dcterms="http://purl.org/dc/terms/" dcterms:provenance="{url}"/>'
        "</rdf:RDF></x:xmpmeta>"
    )
    image = gradient(320, 240).copy()
    image.set_type(pyvips.GValue.blob_type, "xmp-data", xmp.encode())
    data: bytes = image.jpegsave_buffer(Q=90, keep=pyvips.enums.ForeignKeep.ALL)
    assert url.encode() in data
    return data


def test_a_remote_manifest_named_by_the_image_is_never_fetched(
    pki: Pki, canary: tuple[str, list[str]], tmp_path: Path
) -> None:
    base, asked = canary
    data = _naming_a_remote_manifest(f"{base}/manifest.c2pa")
    (tmp_path / "remote.jpg").write_bytes(data)
    settings = pki.settings()  # preserve on, a signing identity: the source's credentials are read
    resized = transform(data, "width=100", settings=settings)
    assert resized.width == 100 and not has_manifest(resized.data, "image/jpeg")  # nothing to carry on
    described = transform(data, "format=json", settings=settings)
    assert b'"width": 320' in described.data or b'"width":320' in described.data
    verified = provenance.verify(data, settings)  # `enlarger c2pa verify`: reported, not fetched
    assert verified["validation_state"] == "Unreadable" and "remote" in verified["failures"][0].lower()
    assert main(["c2pa", "verify", str(tmp_path / "remote.jpg")]) == 3  # a clear answer, no traceback
    assert asked == []  # the canary was never asked: no request left the process


def test_with_c2pa_preserve_off_outputs_carry_no_manifest_even_with_an_identity(pki: Pki, photo: bytes) -> None:
    signing = pki.settings()
    assert has_manifest(transform(photo, "width=320", settings=signing).data, "image/jpeg")  # on: a manifest
    off = pki.settings(c2pa_preserve=False)  # the same identity, the feature off (its default)
    assert Settings().c2pa_preserve is False
    result = transform(photo, "width=320", settings=off)
    assert result.width == 320 and not has_manifest(result.data, "image/jpeg")
    assert b"c2pa" not in result.data and b"jumb" not in result.data
