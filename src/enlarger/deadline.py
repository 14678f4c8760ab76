"""One time limit per transformation, seen by every step that runs inside it.

:func:`enlarger.pipeline.transform_job` opens the limit (``transform_timeout``) before it reads a
byte, for the thread doing the work (nested in a limit its caller opened: the earlier wins);
whatever runs there finds it with :func:`current` without it being passed down: libvips
evaluations are abandoned from libvips' own threads (:func:`watch`), model runs are terminated by
onnxruntime (:mod:`enlarger.models.runtime`), waits for a shared slot give up
(:meth:`Deadline.remaining`), and a step doing work of its own calls :func:`check`. So a new step
(upscaling, overlays) is covered by using these, not by being wired to the pipeline.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass

import pyvips

from enlarger.errors import TransformTimeoutError


@dataclass(frozen=True)
class Deadline:
    """The moment (``time.monotonic``) a transformation must have ended by, and the limit it came from."""

    at: float
    seconds: float

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.at

    def error(self) -> TransformTimeoutError:
        return TransformTimeoutError(f"the transformation took longer than the limit of {self.seconds:g} s")

    def check(self) -> None:
        if self.expired():
            raise self.error()


_CURRENT: ContextVar[Deadline | None] = ContextVar("enlarger_deadline", default=None)


def start(seconds: float | None) -> Token[Deadline | None]:
    """Put this thread's work under a limit of ``seconds`` from now (none when ``None``) until :func:`end`.

    Limits nest: inside a limit already open the earlier of the two wins, so a caller running
    several transformations (the binding's chain) opens one limit around all of them and each
    transformation's own limit can only shorten it.
    """
    outer = _CURRENT.get()
    mine = Deadline(time.monotonic() + seconds, seconds) if seconds is not None else None
    if outer is not None and (mine is None or outer.at <= mine.at):
        mine = outer
    return _CURRENT.set(mine)


def end(token: Token[Deadline | None]) -> None:
    """Lift the limit :func:`start` set, restoring what was there before."""
    _CURRENT.reset(token)


@contextmanager
def limit(seconds: float | None) -> Iterator[Deadline | None]:
    """Run the block under a limit of ``seconds`` (none when ``None``), counted from now."""
    token = start(seconds)
    try:
        yield _CURRENT.get()
    finally:
        end(token)


def current() -> Deadline | None:
    """The limit of the transformation running in this thread, if it has one."""
    return _CURRENT.get()


def check() -> None:
    """Raise :class:`TransformTimeoutError` if the current transformation is past its limit."""
    deadline = _CURRENT.get()
    if deadline is not None:
        deadline.check()


def watch(image: pyvips.Image) -> pyvips.Image:
    """Have libvips abandon computing ``image`` (from its worker threads) once the limit passes.

    The evaluation then fails with a :class:`pyvips.Error`, which the pipeline reports as the timeout.
    """
    deadline = _CURRENT.get()
    if deadline is None:
        return image

    def stop(evaluated: pyvips.Image, _progress: object) -> None:
        if deadline.expired():
            evaluated.set_kill(True)

    image.set_progress(True)
    image.signal_connect("eval", stop)
    return image
