"""Server memory tuning: what can be read back from this process after it."""

from __future__ import annotations

import pyvips

from enlarger.server.memory import tune_memory


def test_libvips_keeps_no_operations_after_tuning() -> None:
    previous = pyvips.cache_get_max()
    try:
        tune_memory()
        assert pyvips.cache_get_max() == 0
    finally:
        pyvips.cache_set_max(previous)
