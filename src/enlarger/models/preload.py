"""Loading the configured models when the server starts, before ``/readyz`` says ready.

A model load takes seconds (IS-Net: about 4 s on 2 cores) and cannot be interrupted; left to the
first request that uses the model, it would fall inside that request's ``transform_timeout``.
The server loads every model its settings name (``segment_model``, ``upscale_model``,
``face_model``) on a thread while it already answers ``/healthz``, and reports ready only once
they are loaded. A configured model that cannot be loaded keeps ``/readyz`` at 503 with the
reason: a deployment error, seen when deploying rather than by the first request. The built-in
face detector is not "configured" and still loads on first use (a few milliseconds).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from enlarger.errors import EnlargerError
from enlarger.models import faces, segment, upscale
from enlarger.settings import Settings

logger = logging.getLogger("enlarger.models")


def load_configured(settings: Settings) -> None:
    """Load every configured model into the process-wide sessions; raises the first failure."""
    if settings.segment_model:
        segment.check_available(settings)
    if settings.upscale_model:
        upscale.models(settings)
    if settings.face_model:
        faces.detector(settings)


@dataclass
class Preload:
    """Where the start-up load stands, for ``/readyz``."""

    done: bool = False
    error: str | None = None

    def run(self, settings: Settings) -> None:
        """Load the configured models (on a worker thread: it blocks for seconds)."""
        try:
            load_configured(settings)
        except EnlargerError as exc:
            self.error = exc.message
            logger.error("a configured model could not be loaded: %s", exc.message)
        finally:
            self.done = True

    def not_ready(self) -> str | None:
        """Why the service is not ready yet, or None once every configured model is loaded."""
        if not self.done:
            return "models loading"
        if self.error is not None:
            return f"model unavailable: {self.error}"
        return None
