"""The time limit covers every step: libvips evaluations, the segment step's decode, model runs.

Nothing here times anything: a run that the limit failed to stop never ends (a never-ending
model) or reaches a stand-in that records it, so a broken limit fails the test instead of
making it slow. Threads with a generous join are the guard against hanging.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pytest
import pyvips

from enlarger import deadline
from enlarger.errors import TransformTimeoutError
from enlarger.models import runtime
from enlarger.pipeline import transform
from enlarger.settings import Settings
from enlarger.steps import segment as segment_step
from tests.imaging import decode, gradient, save
from tests.models.standins import mean_mask, never_ending

GUARD_SECONDS = 120  # only a hang reaches this: the limits below are fractions of a second


def _outcome(call: Callable[[], object]) -> BaseException | object:
    """What ``call`` returned or raised, run in a thread that must end well before the guard."""
    pool = concurrent.futures.ThreadPoolExecutor(1)
    future = pool.submit(call)
    try:
        error = future.exception(timeout=GUARD_SECONDS)
    except TimeoutError:
        pytest.fail("the time limit did not stop the work")
    finally:
        pool.shutdown(wait=False)
    return error if error is not None else future.result()


def test_limit_is_seen_by_the_thread_doing_the_work_and_lifted_after() -> None:
    assert deadline.current() is None
    with deadline.limit(30) as limit:
        assert deadline.current() is limit
        assert limit is not None and not limit.expired()
        deadline.check()
    assert deadline.current() is None
    with deadline.limit(None):
        assert deadline.current() is None
    with deadline.limit(0), pytest.raises(TransformTimeoutError, match="limit of 0 s"):
        deadline.check()


def test_a_transformation_leaves_no_limit_behind() -> None:
    transform(save(gradient(40, 30), "png"), "width=20", timeout=30)
    assert deadline.current() is None
    with pytest.raises(TransformTimeoutError):
        transform(save(gradient(400, 300), "png"), "blur=50", timeout=0)
    assert deadline.current() is None


def test_a_never_ending_model_run_is_terminated(tmp_path: Path) -> None:
    session = runtime.session(never_ending(tmp_path / "spin.onnx"), Settings())
    feed = np.zeros((1, 3, 32, 32), np.float32)

    def run() -> object:
        with deadline.limit(0.3):
            return session.run(feed)

    outcome = _outcome(run)
    assert isinstance(outcome, TransformTimeoutError), outcome
    assert outcome.status == 504 and outcome.code == 9529


def test_a_model_run_without_a_limit_is_left_alone(tmp_path: Path) -> None:
    session = runtime.session(mean_mask(tmp_path / "mean.onnx"), Settings())
    feed = np.full((1, 3, 32, 32), 0.25, np.float32)
    (mask,) = session.run(feed)
    assert mask.shape == (1, 1, 32, 32) and float(mask.mean()) == pytest.approx(0.25)


def test_segment_foreground_with_a_never_ending_model_is_stopped_by_transform_timeout(tmp_path: Path) -> None:
    settings = Settings(segment_model=str(never_ending(tmp_path / "spin.onnx")), segment_model_kind="u2netp")
    data = save(gradient(200, 100), "png")
    outcome = _outcome(lambda: transform(data, "segment=foreground", settings=settings, timeout=0.5))
    assert isinstance(outcome, TransformTimeoutError), outcome
    assert "longer than the limit of 0.5 s" in outcome.message


def test_segment_foreground_with_a_stand_in_model_finishes_under_a_limit(tmp_path: Path) -> None:
    settings = Settings(segment_model=str(mean_mask(tmp_path / "mean.onnx")), segment_model_kind="u2netp")
    out = transform(save(gradient(200, 100), "png"), "segment=foreground", settings=settings, timeout=60)
    assert decode(out.data).bands == 4 and (out.width, out.height) == (200, 100)


def test_the_segment_steps_decode_is_abandoned_before_the_model_is_reached(monkeypatch: pytest.MonkeyPatch) -> None:
    """``segment`` computes the decode and earlier steps (here a huge blur) into memory first:
    the limit must stop that evaluation, so the model (a recording stand-in) is never reached."""
    reached: list[int] = []

    def recording_mask(frame: pyvips.Image, settings: Settings) -> pyvips.Image:
        reached.append(frame.width)
        return pyvips.Image.black(frame.width, frame.height).cast("uchar")

    _stand_in_segmentation(monkeypatch, recording_mask)
    data = save(gradient(2500, 2500), "png", compression=1)
    outcome = _outcome(lambda: transform(data, "blur=250,segment=foreground,format=png", timeout=0.05))
    assert isinstance(outcome, TransformTimeoutError), outcome
    assert reached == []


def test_waiting_for_an_inference_slot_counts_against_the_limit() -> None:
    settings = Settings(inference_concurrency=3)
    with ExitStack() as held:
        for _ in range(3):
            held.enter_context(runtime.inference_slot(settings))  # every slot taken

        def wait() -> object:
            with deadline.limit(0.2), runtime.inference_slot(settings):
                return "got a slot"

        outcome = _outcome(wait)
    assert isinstance(outcome, TransformTimeoutError), outcome
    with deadline.limit(30), runtime.inference_slot(settings):
        pass  # released slots are free again


def _stand_in_segmentation(
    monkeypatch: pytest.MonkeyPatch, mask: Callable[[pyvips.Image, Settings], pyvips.Image]
) -> None:
    """Replace the model behind ``segment=foreground`` (the one place this module patches)."""
    monkeypatch.setattr(segment_step, "foreground_mask", mask)
    monkeypatch.setattr("enlarger.pipeline.check_available", lambda settings: None)


def test_limits_nest_and_the_earlier_wins() -> None:
    with deadline.limit(0.2) as outer:
        with deadline.limit(30) as inner:
            assert inner is outer  # a later inner limit cannot extend the outer one
        with deadline.limit(None) as unlimited:
            assert unlimited is outer  # nor lift it
        with deadline.limit(0.05) as shorter:
            assert shorter is not None and outer is not None and shorter.at < outer.at
        assert deadline.current() is outer
    assert deadline.current() is None
