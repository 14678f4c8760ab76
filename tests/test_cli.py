"""The command line: outputs on disk, JSON info, references, readable errors and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from enlarger.cli import main
from tests.imaging import decode, gradient, save


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "photo.jpg"
    path.write_bytes(save(gradient(320, 240), "jpeg"))
    return path


def test_transform_writes_the_format_of_the_suffix(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.webp"
    assert main(["transform", str(source), str(out), "--options", "width=100,height=100,fit=cover"]) == 0
    data = out.read_bytes()
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    image = decode(data)
    assert (image.width, image.height) == (100, 100)


def test_explicit_format_wins_over_the_suffix(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.img"
    assert main(["transform", str(source), str(out), "-o", "width=50,format=png"]) == 0
    assert out.read_bytes().startswith(b"\x89PNG")


def test_json_output(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "facts.json"
    assert main(["transform", str(source), str(out), "-o", "width=160"]) == 0
    assert json.loads(out.read_text())["height"] == 120


def test_info_prints_header_json(source: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(source)]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert (facts["format"], facts["width"], facts["height"]) == ("jpeg", 320, 240)


def test_bad_options_exit_2_with_a_readable_message(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.jpg"
    assert main(["transform", str(source), str(out), "-o", "fit=sideways"]) == 2
    err = capsys.readouterr().err
    assert "fit" in err and "sideways" in err and "cover" in err
    assert "Traceback" not in err
    assert not out.exists()


def test_bad_input_exits_3_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bogus = tmp_path / "fake.jpg"
    bogus.write_text("<html>not an image</html>")
    out = tmp_path / "out.jpg"
    assert main(["transform", str(bogus), str(out)]) == 3
    assert "not a supported image" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [bogus]


def test_missing_file_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(tmp_path / "nope.png")]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_bad_settings_exit_2(source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "enlarger.toml"
    config.write_text("max_input_pixels = 'lots'\n")
    assert main(["--config", str(config), "info", str(source)]) == 2
    assert "max_input_pixels" in capsys.readouterr().err


def test_settings_file_limits_apply(source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "enlarger.toml"
    config.write_text("max_input_pixels = 1000\n")
    assert main(["--config", str(config), "transform", str(source), str(tmp_path / "o.jpg")]) == 3
    assert "1,000 pixels" in capsys.readouterr().err


def test_docs_prints_references(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["docs", "options"]) == 0
    assert "| `width` | `w` |" in capsys.readouterr().out


def test_console_script_pipes_stdin_to_stdout(source: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "enlarger.cli", "transform", "-", "-", "-o", "width=32,format=png"],
        input=source.read_bytes(),
        capture_output=True,
        check=True,
    )
    image = decode(done.stdout)
    assert (image.width, image.height) == (32, 24)


_TOP_LEVEL_COMMANDS = ["transform", "info", "serve", "accounts", "tokens", "keys", "sign", "gc", "doctor"]


@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        (["--help"], [*_TOP_LEVEL_COMMANDS, "c2pa", "import", "docs", "--config"]),
        (["transform", "--help"], ["INPUT", "OUTPUT", "--options", "--accept"]),
        (["info", "--help"], ["INPUT", "JSON"]),
        (["docs", "--help"], ["options", "settings", "--write"]),
    ],
)
def test_help_everywhere(args: list[str], mentions: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 0
    shown = capsys.readouterr().out
    assert shown.startswith("usage: enlarger")
    assert [word for word in mentions if word not in shown] == []


def test_serve_prints_a_working_example_url(tmp_path: Path) -> None:
    import socket
    import time

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data_dir = tmp_path / "data"
    process = subprocess.Popen(
        [sys.executable, "-m", "enlarger.cli", "serve", "--port", str(port), "--data-dir", str(data_dir)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        lines = [process.stderr.readline(), process.stderr.readline()]
        assert lines[0].startswith(f"Enlarger listening on http://127.0.0.1:{port}")
        url = lines[1].removeprefix("Try: ").strip()
        assert url == f"http://127.0.0.1:{port}/cdn-cgi/image/width=400,format=auto/sample.jpg"
        deadline = time.monotonic() + 20
        while True:
            try:
                response = httpx.get(url, headers={"Accept": "image/webp,*/*"})
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, "the server did not come up"
                time.sleep(0.1)
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/webp"
        assert decode(response.content).width == 400
        assert (data_dir / "origin" / "sample.jpg").is_file()
        assert (data_dir / "cache").is_dir()
    finally:
        process.terminate()
        process.wait(timeout=10)
