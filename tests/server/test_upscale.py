"""upscale=generate through the real HTTP server: a model enlargement, and the answer without a model."""

from __future__ import annotations

from pathlib import Path

import pyvips

from tests.imaging import decode
from tests.models.labelled import FACES, MODELS, require
from tests.models.quality import degrade, psnr
from tests.server.conftest import Start


def _small_face(origin_dir: Path) -> pyvips.Image:
    """The astronaut's face (128²) in the origin, shrunk 2× to 64²; returns the 128² original."""
    truth = pyvips.Image.new_from_file(str(require(FACES / "astronaut.png"))).crop(180, 60, 128, 128).copy_memory()
    (origin_dir / "face.png").write_bytes(bytes(degrade(truth, 2).pngsave_buffer()))
    return truth


def test_generate_enlarges_with_the_model_over_http(start: Start, origin_dir: Path) -> None:
    truth = _small_face(origin_dir)
    models = ",".join(str(require(MODELS / f"esrgan-slim-x{f}.onnx")) for f in (2, 4))
    client = start(upscale_model=models)
    generated = client.get("/cdn-cgi/image/width=128,fit=contain,upscale=generate,format=png/face.png")
    interpolated = client.get("/cdn-cgi/image/width=128,fit=contain,format=png/face.png")
    assert generated.status_code == interpolated.status_code == 200, generated.text
    assert generated.headers["content-type"] == "image/png"
    image, plain = decode(generated.content), decode(interpolated.content)
    assert (image.width, image.height) == (128, 128)
    assert psnr(image, truth) > psnr(plain, truth) + 1.0
    again = client.get("/cdn-cgi/image/upscale=generate,fit=contain,format=png,width=128/face.png")
    assert again.content == generated.content  # the same canonical options, the same cached output


def test_generate_without_a_model_is_501_naming_the_setting(start: Start, origin_dir: Path) -> None:
    (origin_dir / "tiny.png").write_bytes(bytes(pyvips.Image.black(8, 8, bands=3).pngsave_buffer()))
    client = start()
    response = client.get("/cdn-cgi/image/width=32,fit=contain,upscale=generate/tiny.png")
    assert response.status_code == 501
    assert "upscale_model" in response.text
    shrunk = client.get("/cdn-cgi/image/width=4,upscale=generate/tiny.png")
    assert shrunk.status_code == 200  # shrinking needs no model
    assert client.get("/healthz").text == "ok\n"
