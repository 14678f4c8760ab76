"""libvips' log messages in a server: only warnings and errors reach Python.

pyvips hands every message of libvips' ``VIPS`` log domain to Python's :mod:`logging`, the
informational ones too ("threadpool completed with 2 workers", "reducev: using vector path":
about 13 per transformation), whatever level the logger is at. Each is a call into Python from
a libvips thread, which first waits for the GIL while the server's other threads hold it. A
server process keeps pyvips' handler for warnings and errors only; GLib's default handler drops
the rest (or prints them when ``G_MESSAGES_DEBUG`` asks for them).
"""

from __future__ import annotations

import threading

import pyvips

_LEVELS = (
    pyvips.GLogLevelFlags.LEVEL_WARNING
    | pyvips.GLogLevelFlags.LEVEL_CRITICAL
    | pyvips.GLogLevelFlags.LEVEL_ERROR
    | pyvips.GLogLevelFlags.FLAG_FATAL
    | pyvips.GLogLevelFlags.FLAG_RECURSION
)
_DOMAIN = b"VIPS"
_done = False
_lock = threading.Lock()


def warnings_only() -> None:
    """Route only libvips' warnings and errors to Python, for this whole process (idempotent)."""
    global _done
    with _lock:
        if _done or not pyvips._log_handler_id:
            return
        pyvips.glib_lib.g_log_remove_handler(_DOMAIN, pyvips._log_handler_id)
        # pyvips removes the handler it knows by this id at exit: it must name the new one
        pyvips._log_handler_id = pyvips.glib_lib.g_log_set_handler(
            _DOMAIN, _LEVELS, pyvips._log_handler_cb, pyvips.ffi.NULL
        )
        _done = True
