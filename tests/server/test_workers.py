"""The pure parts of the multi-process mode: each process's share, and settings handed to a worker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from enlarger.server.workers import Share, encode_settings
from enlarger.settings import Settings, load_settings


@pytest.mark.parametrize(("total", "count"), [(32, 2), (33, 4), (2, 3), (0, 2), (1024**3, 7)])
def test_parts_sum_to_the_total(total: int, count: int) -> None:
    parts = [Share(i, count).part(total) for i in range(count)]
    assert sum(parts) == total
    assert max(parts) - min(parts) <= 1


def test_every_process_gets_a_worker_even_when_there_are_fewer_than_processes() -> None:
    assert [Share(i, 4).part(2, at_least=1) for i in range(4)] == [1, 1, 1, 1]


def test_a_worker_reads_back_exactly_the_settings_it_was_given(tmp_path: Path) -> None:
    given = Settings(
        data_dir=tmp_path / "data",
        allowed_hosts=("images.example.com", "*.example.org"),
        transform_timeout=12.5,
        processes=3,
        cache_memory_bytes=0,
    )
    assert load_settings(env={}, **json.loads(encode_settings(given))) == given
