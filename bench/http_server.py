"""Run the Enlarger ASGI app under uvicorn exactly as ``enlarger serve`` does, minus the access log.

``bench/http.py --server app`` starts this instead of ``enlarger serve`` to measure what the
per-request JSON access-log line costs (``enlarger serve`` sends it to stderr at INFO; here the
``enlarger.access`` logger is left unconfigured, so it is silent). Everything else is the same:
``create_app(Settings)``, uvicorn with httptools and uvloop, ``access_log=False``,
``log_level="warning"``. Settings come from the ``ENLARGER_*`` environment like the CLI's.

Run it with ``python -P`` (or directly: it drops its own folder from ``sys.path`` first, because
``bench/http.py`` would otherwise shadow the standard library's ``http`` package).

``python -P bench/http_server.py --port 8080 --data-dir DIR --origin DIR``
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def unshadow_stdlib_http() -> None:
    """Remove ``bench/`` from ``sys.path``: its ``http.py`` would hide the standard ``http`` package."""
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != BENCH]


def main(argv: Sequence[str] | None = None) -> int:
    unshadow_stdlib_http()
    from enlarger.server.serve import run
    from enlarger.settings import load_settings

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--origin", required=True)
    args = parser.parse_args(argv)
    settings = load_settings(host=args.host, port=args.port, data_dir=args.data_dir, origin=args.origin)
    print(f"Enlarger (bench, no access log) listening on http://{settings.host}:{settings.port}", file=sys.stderr)
    run(settings)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
