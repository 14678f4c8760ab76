"""Progress of a running import for people: a redrawn bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import time
from typing import TextIO

from enlarger.importing.runner import Progress

_WIDTH = 24


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return (
        f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
        if seconds >= 3600
        else f"{seconds // 60}:{seconds % 60:02d}"
    )


def describe(p: Progress, now: float | None = None) -> tuple[str, float | None]:
    """The progress line (without the bar) and the settled fraction (None while listing)."""
    elapsed = max(1e-6, (now or time.monotonic()) - p.started)
    settled_now = p.settled - p.settled_at_start
    rate = max(0, settled_now) / elapsed
    mb = (p.bytes - p.bytes_at_start) / elapsed / 1e6
    fraction = p.settled / p.total if p.listed and p.total else None
    if fraction is not None and rate > 0:
        eta = f"ETA {_duration((p.total - p.settled) / rate)}"
    else:
        eta = "ETA ?" if not p.listed else "ETA -"
    of = f"{p.total}" if p.listed else f"{p.total}+ listed"
    text = f"{p.settled}/{of} · {rate:.1f} obj/s · {mb:.2f} MB/s · {eta} · {p.failed} failed · {p.skipped} skipped"
    return text, fraction


class Display:
    """Call :meth:`update` often; it draws at most every ``interval`` seconds (always when final)."""

    def __init__(self, stream: TextIO, *, tty: bool, interval: float | None = None) -> None:
        self.stream = stream
        self.tty = tty
        self.interval = interval if interval is not None else (0.2 if tty else 5.0)
        self._last = 0.0

    def update(self, p: Progress, *, final: bool = False) -> None:
        moment = time.monotonic()
        if not final and moment - self._last < self.interval:
            return
        self._last = moment
        text, fraction = describe(p, moment)
        if self.tty:
            filled = round(_WIDTH * (fraction or 0))
            bar = "#" * filled + "." * (_WIDTH - filled)
            percent = f"{fraction * 100:3.0f}%" if fraction is not None else " ..."
            self.stream.write(f"\r\x1b[K[{bar}] {percent} {text}" + ("\n" if final else ""))
        else:
            self.stream.write(f"import: {text}\n")
        self.stream.flush()
