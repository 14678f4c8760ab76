"""Binding calls in usage accounting, as Cloudflare bills them (changelog 2026-07-01): one unique
transformation per distinct (sources, parameters), repeats free, ``info()`` free, the quota applies."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from enlarger.binding import Images, ImagesError
from enlarger.catalog.store import Catalog
from enlarger.catalog.usage_store import UsageStore
from enlarger.settings import Settings
from enlarger.usage import Usage
from tests.binding.aio import run
from tests.imaging import save, solid

DAY = date(2026, 7, 2)
BLUE = save(solid(200, 100, (0, 0, 255)), "png")
RED = save(solid(20, 10, (255, 0, 0)), "png")


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Catalog]:
    opened = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    yield opened
    opened.close()


def _binding(catalog: Catalog, tmp_path: Path, **settings: object) -> tuple[Images, str]:
    account = catalog.create_account("binding").id
    values = Settings(data_dir=tmp_path / "data", **settings)  # type: ignore[arg-type]
    return Images(values, account_id=account, usage=Usage(catalog, values, today=lambda: DAY)), account


def test_each_distinct_call_counts_once_and_info_is_free(catalog: Catalog, tmp_path: Path) -> None:
    images, account = _binding(catalog, tmp_path)

    async def calls() -> None:
        for _ in range(3):  # the same sources and parameters: one transformation
            await images.input(BLUE).transform(width=50).output("image/png")
        await images.input(BLUE).transform(width=60).output("image/png")  # another parameter
        await images.input(BLUE).transform(width=50).output("image/webp")  # another output
        await images.input(BLUE).transform(width=50).draw(RED, top=0, left=0).output("image/png")  # a draw
        await images.input(RED).transform(width=50).output("image/png")  # another source
        await images.info(BLUE)  # free

    run(calls())
    assert UsageStore(catalog).unique_transformations(account, DAY) == 5


def test_the_transformation_quota_applies_to_binding_calls(catalog: Catalog, tmp_path: Path) -> None:
    images, _ = _binding(catalog, tmp_path, transformation_quota=1)

    async def calls() -> None:
        await images.input(BLUE).transform(width=50).output("image/png")
        await images.input(BLUE).transform(width=50).output("image/png")  # a repeat: not new
        await images.input(BLUE).transform(width=70).output("image/png")

    with pytest.raises(ImagesError) as refused:
        run(calls())
    assert refused.value.code == 9422
