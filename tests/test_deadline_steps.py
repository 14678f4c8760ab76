"""``transform_timeout`` between pipeline steps (docs/server.md: each transformation is stopped
after its limit): a step that ran past the limit is not followed by another step."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
import pyvips

from enlarger import deadline, pipeline
from enlarger.errors import TransformTimeoutError
from tests.imaging import gradient, save


def test_no_step_runs_after_one_that_outlived_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[str] = []

    def outlives_the_limit(image: pyvips.Image, _options: Any, _ctx: Any) -> pyvips.Image:
        ran.append("slow")
        limit = deadline.current()
        assert limit is not None
        while not limit.expired():  # numpy or model work of its own, past the limit
            time.sleep(0.01)
        return image

    def counted(name: str, step: Any) -> Any:
        def run(image: pyvips.Image, options: Any, ctx: Any) -> pyvips.Image:
            ran.append(name)
            return step(image, options, ctx)

        return run

    first, *rest = pipeline.STEPS
    steps = (counted("first", first), outlives_the_limit, *(counted(s.__name__, s) for s in rest))
    monkeypatch.setattr(pipeline, "STEPS", steps)
    with pytest.raises(TransformTimeoutError, match="longer than the limit of 3 s"):
        pipeline.transform(save(gradient(64, 48), "png"), "width=32,format=png", timeout=3)
    assert ran == ["first", "slow"]  # stopped between steps: none of the later steps was called
    monkeypatch.undo()
    assert pipeline.transform(save(gradient(64, 48), "png"), "width=32,format=png", timeout=3).width == 32


def test_a_libvips_evaluation_past_the_limit_is_abandoned() -> None:
    heavy = pyvips.Image.gaussnoise(1500, 1500).gaussblur(80)  # seconds of work when evaluated
    with deadline.limit(0.05), pytest.raises(pyvips.Error):
        deadline.watch(heavy).copy_memory()  # killed from libvips' own threads once the limit passes
    small = pyvips.Image.black(8, 8)
    assert deadline.watch(small) is small  # without a limit the image is left as it is
    with deadline.limit(30):
        assert deadline.watch(small).copy_memory().width == 8  # within the limit: evaluated normally


def test_an_evaluation_begun_after_the_limit_passed_is_abandoned_too() -> None:
    heavy = pyvips.Image.gaussnoise(1500, 1500).gaussblur(80)
    with deadline.limit(0.05):
        watched = deadline.watch(heavy)
        time.sleep(0.3)  # the alarm has set the kill flag, and sets it again while the limit is open
        for _ in range(2):  # libvips clears the flag when it acts on it: the next evaluation stops too
            with pytest.raises(pyvips.Error):
                watched.copy_memory()


def test_a_limit_lets_go_of_its_images_when_it_ends_and_an_outer_one_keeps_them() -> None:
    image = pyvips.Image.black(8, 8)
    with deadline.limit(30) as outer:
        assert outer is not None
        with deadline.limit(60) as inner:  # the earlier outer limit is the one in force
            assert inner is outer
            deadline.watch(image)
        assert outer.watched == [image]  # the inner level opened nothing of its own
        with deadline.limit(10) as own:
            assert own is not None and own is not outer
            deadline.watch(image)
            assert own.watched == [image]
        assert own.watched == []  # ended: the alarm thread holds no image past its transformation
    assert outer.watched == []
    with deadline.limit(30):  # after its end the image is evaluated normally, however long
        assert deadline.watch(image).copy_memory().avg() == 0


def test_an_expired_limit_leaves_no_time_to_wait() -> None:
    with deadline.limit(0) as limit:
        assert limit is not None and limit.expired()
        assert limit.remaining() == 0.0  # a slot wait under it gives up at once
    with deadline.limit(60) as limit:
        assert limit is not None and 0 < limit.remaining() <= 60


class _Killable:
    """Stands in for an image: counts the kill flags the alarm sets."""

    def __init__(self) -> None:
        self.kills = 0

    def set_kill(self, kill: bool) -> None:
        self.kills += kill


def test_an_open_limit_past_its_moment_is_killed_again_at_intervals_not_in_a_loop() -> None:
    watched = _Killable()
    with deadline.limit(0.01):
        deadline.watch(watched)
        time.sleep(0.35)
        kills = watched.kills
    time.sleep(0.1)
    assert 1 <= kills <= 20  # every 50 ms while it stays open (a busy loop would count thousands)
    assert watched.kills == kills  # ended: never again


def test_a_forked_child_starts_its_own_alarm_thread() -> None:
    with deadline.limit(30):
        deadline.watch(pyvips.Image.black(4, 4))  # the alarm thread runs in this process
    child = os.fork()
    if child == 0:  # no libvips work here: only whether the child forgot the parent's thread
        os._exit(0 if deadline._ALARMS._thread is None else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
