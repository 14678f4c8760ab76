"""Shared fixtures: a settings object and a small photo-like JPEG, built by code."""

from __future__ import annotations

import pytest

from enlarger.settings import Settings
from tests.imaging import gradient, quadrants, save


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def photo_jpeg() -> bytes:
    """320×240 colour ramp as JPEG."""
    return save(gradient(320, 240), "jpeg", Q=95)


@pytest.fixture(scope="session")
def quad_png() -> bytes:
    """200×100 four-colour quadrants as lossless PNG."""
    return save(quadrants(200, 100), "png")
