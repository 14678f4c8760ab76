"""Enlarger: an image engine and service with Cloudflare Images' transformation semantics.

Importing this package changes no process-wide state. :func:`harden` (which blocks every libvips
loader Enlarger does not use) is called by the CLI and the server, and by the engine itself
before it reads any image; an embedding application may call it earlier, once, at start-up.
"""

from enlarger.codecs import harden
from enlarger.errors import EnlargerError
from enlarger.options import DrawOptions, Options, parse_options
from enlarger.pipeline import Job, Overlay, Result, info, transform, transform_job
from enlarger.settings import Settings, load_settings

__version__ = "0.1.0"

__all__ = [
    "DrawOptions",
    "EnlargerError",
    "Job",
    "Options",
    "Overlay",
    "Result",
    "Settings",
    "harden",
    "info",
    "load_settings",
    "parse_options",
    "transform",
    "transform_job",
]
