"""Enlarger: an image engine and service with Cloudflare Images' transformation semantics.

Importing this package changes no process-wide state. :func:`harden` (which blocks every libvips
loader Enlarger does not use) is called by the CLI and the server, and by the engine itself
before it reads any image; an embedding application may call it earlier, once, at start-up.
"""

from importlib.metadata import version

from enlarger.codecs import harden
from enlarger.errors import EnlargerError
from enlarger.job import Job, Overlay, Result
from enlarger.options import DrawOptions, Options, parse_options
from enlarger.pipeline import info, transform, transform_job
from enlarger.settings import Settings, load_settings

__version__ = version("enlarger")  # one source: pyproject.toml, as installed

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
