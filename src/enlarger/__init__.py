"""Enlarger: an image engine and service with Cloudflare Images' transformation semantics."""

from enlarger.errors import EnlargerError
from enlarger.options import Options, parse_options
from enlarger.pipeline import Result, info, transform
from enlarger.settings import Settings, load_settings

__version__ = "0.1.0"

__all__ = [
    "EnlargerError",
    "Options",
    "Result",
    "Settings",
    "info",
    "load_settings",
    "parse_options",
    "transform",
]
