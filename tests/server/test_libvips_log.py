"""A server process lets only libvips' warnings and errors call into Python (server/libvips_log.py)."""

from __future__ import annotations

import ctypes
import logging
from pathlib import Path

import pytest
import pyvips

from enlarger.server import libvips_log


def _libvips() -> ctypes.CDLL:
    """The libvips pyvips loaded (GLib linked in): the same log handler table."""
    maps = Path("/proc/self/maps").read_text().splitlines()
    return ctypes.CDLL(next(line.split()[-1] for line in maps if "libvips" in line and ".so" in line))


def test_informational_lines_stay_in_libvips_and_warnings_reach_logging(caplog: pytest.LogCaptureFixture) -> None:
    libvips_log.warnings_only()
    libvips_log.warnings_only()  # idempotent: the handler is replaced once
    caplog.set_level(logging.DEBUG, logger="pyvips")
    pyvips.Image.thumbnail_buffer(pyvips.Image.black(256, 256).jpegsave_buffer(), 32).avg()  # 10+ info lines
    glib = _libvips()
    glib.g_log(b"VIPS", int(pyvips.GLogLevelFlags.LEVEL_INFO), b"%s", b"an informational line")
    glib.g_log(b"VIPS", int(pyvips.GLogLevelFlags.LEVEL_WARNING), b"%s", b"a warning")
    from_libvips = [(r.levelno, r.getMessage()) for r in caplog.records if r.getMessage().startswith("VIPS: ")]
    assert from_libvips == [(logging.WARNING, "VIPS: a warning")]
