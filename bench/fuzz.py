"""Long fuzzing runs of the test suite's Hypothesis targets (the suite runs each for a small budget).

Targets: the option parser (URL text and JSON), the sniffer + header checks + engine on mutated
real images, the trailer parser, and the SVG sanitizer (hostile fragments and raw bytes). Each is
run in rounds of ``--examples`` until ``--seconds`` (per target) are spent; counts, time and any
failure are printed. Every failure found becomes a regression test: add its falsifying input as
an ``@example(...)`` to the target (or a plain test beside it).

``.venv/bin/python bench/fuzz.py [--seconds 60] [--examples 500] [--target NAME ...]``
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase
from hypothesis import settings as hyp_settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests import test_codecs, test_options
from tests.security import test_svg, test_trailers

TARGETS: dict[str, Callable[..., Any]] = {
    "options-text": test_options.test_any_text_gives_options_or_option_error,
    "options-json": test_options.test_any_json_gives_options_or_option_error,
    "options-canonical": test_options.test_canonical_round_trips,
    "headers-mutated-images": test_codecs.test_damaged_input_gives_a_result_or_an_enlarger_error,
    "trailers-bytes": test_trailers.test_fuzz_trailer_parser_never_fails_on_arbitrary_bytes,
    "trailers-appended": test_trailers.test_fuzz_any_appended_tail_is_found_exactly,
    "svg-fragments": test_svg.test_fuzz_sanitizer_output_is_always_just_an_image,
    "svg-bytes": test_svg.test_fuzz_sanitizer_on_arbitrary_bytes_raises_only_typed_errors,
}


def run(name: str, target: Callable[..., Any], seconds: float, examples: int) -> tuple[int, float, str | None]:
    """Rounds of ``examples`` fresh examples until ``seconds`` pass; returns (examples, seconds, failure)."""
    # the targets carry the suite's small budget; Hypothesis reads it from this attribute at each call
    target._hypothesis_internal_use_settings = hyp_settings(  # type: ignore[attr-defined]
        max_examples=examples,
        deadline=None,
        database=None,  # fresh randomness every round
        phases=(Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
    )
    started = time.monotonic()
    done = 0
    while time.monotonic() - started < seconds:
        try:
            target()
        except Exception:  # noqa: BLE001 (any failure of a target is the finding to report)
            return done, time.monotonic() - started, traceback.format_exc(limit=3)
        done += examples
    return done, time.monotonic() - started, None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60, help="time per target")
    parser.add_argument("--examples", type=int, default=500, help="examples per round")
    parser.add_argument("--target", action="append", choices=sorted(TARGETS), help="only these targets")
    args = parser.parse_args()
    failed = 0
    print(f"{'target':26} {'examples':>9} {'seconds':>8} {'per s':>7}  result")
    for name in args.target or list(TARGETS):
        count, elapsed, failure = run(name, TARGETS[name], args.seconds, args.examples)
        rate = count / elapsed if elapsed else 0.0
        print(f"{name:26} {count:>9} {elapsed:>8.1f} {rate:>7.0f}  {'FAILED' if failure else 'ok'}", flush=True)
        if failure:
            failed += 1
            print(failure)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
