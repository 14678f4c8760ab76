"""One time limit per transformation, seen by every step that runs inside it.

:func:`enlarger.pipeline.transform_job` opens the limit (``transform_timeout``) before it reads a
byte, for the thread doing the work (nested in a limit its caller opened: the earlier wins);
whatever runs there finds it with :func:`current` without it being passed down: libvips
evaluations are abandoned when the limit passes (:func:`watch`), model runs are terminated by
onnxruntime (:mod:`enlarger.models.runtime`), waits for a shared slot give up
(:meth:`Deadline.remaining`), and a step doing work of its own calls :func:`check`. So a new step
(upscaling, overlays) is covered by using these, not by being wired to the pipeline.
"""

from __future__ import annotations

import heapq
import itertools
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, field

import pyvips

from enlarger.errors import TransformTimeoutError


@dataclass(frozen=True)
class Deadline:
    """The moment (``time.monotonic``) a transformation must have ended by, and the limit it came from."""

    at: float
    seconds: float
    #: the images :func:`watch` was given under this limit, killed when it passes; emptied by :func:`end`
    watched: list[pyvips.Image] = field(default_factory=list, compare=False, repr=False)

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
    """Lift the limit :func:`start` set, restoring what was there before.

    A limit this :func:`start` opened lets go of the images it watched (an outer limit it only
    passed on keeps them until its own end).
    """
    ended = _CURRENT.get()
    _CURRENT.reset(token)
    if ended is not None and ended is not _CURRENT.get():
        ended.watched.clear()


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
    """Have libvips abandon computing ``image`` once the limit passes.

    The evaluation then fails with a :class:`pyvips.Error`, which the pipeline reports as the timeout.
    One alarm thread sets libvips' kill flag on the images of limits that have passed. libvips'
    ``eval`` progress signal would do it too, but it calls into Python from libvips' worker
    threads after every tile (20 times for an 800-pixel output), each call waiting for the GIL
    while other requests hold it: the workers stalled and the cores idled.
    """
    deadline = _CURRENT.get()
    if deadline is None:
        return image
    if not deadline.watched:
        _ALARMS.add(deadline)
    deadline.watched.append(image)
    return image


#: how often the kill flag is set again while a limit that has passed is still open: libvips
#: clears the flag when one of its threads acts on it, and an evaluation started later must stop too
_KILL_AGAIN = 0.05


class _Alarms:
    """The thread that kills watched images when their limit passes (started on first use)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Start empty: also in a forked child, which has no alarm thread (it starts its own on first use)."""
        self._due: list[tuple[float, int, Deadline]] = []
        self._changed = threading.Condition()
        self._order = itertools.count()  # deadlines of one moment never compare
        self._thread: threading.Thread | None = None

    def add(self, deadline: Deadline) -> None:
        with self._changed:
            heapq.heappush(self._due, (deadline.at, next(self._order), deadline))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="enlarger-deadline", daemon=True)
                self._thread.start()
            if self._due[0][2] is deadline:
                self._changed.notify()

    def _run(self) -> None:
        with self._changed:
            while True:
                wait = self._due[0][0] - time.monotonic() if self._due else None
                if wait is None or wait > 0:
                    self._changed.wait(wait)
                    continue
                _at, _, deadline = heapq.heappop(self._due)
                if deadline.watched:  # still open: its work goes on past the limit
                    for image in tuple(deadline.watched):
                        image.set_kill(True)
                    heapq.heappush(self._due, (time.monotonic() + _KILL_AGAIN, next(self._order), deadline))


_ALARMS = _Alarms()
os.register_at_fork(after_in_child=_ALARMS.reset)
