"""How fast decompression bombs are refused: milliseconds per bomb, against decoding a real image.

The tests prove the property that matters on any machine (a bomb never reaches the decoder and
barely grows a fresh process); this prints the speed that follows from it, which a timed test on a
loaded machine could not assert without flaking (docs/security.md quotes these numbers). Each bomb
is refused ``--runs`` times; the median is printed beside the median decode of a 640×480 JPEG
to 100 px wide, run side by side as the baseline.

Run: ``.venv/bin/python bench/bombs.py [--runs 20]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.imaging import gradient, save
from tests.test_codecs import _BOMBS

from enlarger.errors import EnlargerError
from enlarger.pipeline import transform


def _median_ms(call: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def _refuse(data: bytes) -> None:
    try:
        transform(data, "width=100")
    except EnlargerError:
        return
    raise SystemExit("a bomb was not refused")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs
    photo = save(gradient(640, 480), "jpeg", Q=90)
    baseline = _median_ms(lambda: transform(photo, "width=100"), runs)
    print(f"{'baseline: 640×480 JPEG → 100 px':34} {baseline:8.2f} ms")
    for name, build in _BOMBS.items():
        data = build()
        _refuse(data)  # first use loads the format's library: not what is measured
        took = _median_ms(lambda data=data: _refuse(data), runs)  # type: ignore[misc]
        print(f"{name:34} {took:8.2f} ms  ({took / baseline:5.2f}× the baseline)")


if __name__ == "__main__":
    main()
