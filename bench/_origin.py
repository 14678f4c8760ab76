"""A local HTTP origin for the benchmarks: serves a folder, answers conditional GETs, counts what it sent.

Run as its own process (``python -P bench/_origin.py --root DIR --port P``: ``-P``, because
``bench/http.py`` would shadow the standard ``http`` package) so that serving the
originals costs neither the server under test nor the load client any CPU. Every file has a strong
``ETag`` (from its size and mtime) and a ``Last-Modified``; ``If-None-Match`` or
``If-Modified-Since`` that still match get 304 without a body, as a CDN or object store answers.
``GET /__stats`` returns what it served so far as JSON: requests, bodies, body bytes and 304s —
the figure the issue's "HTTP origin" workload is about (origin traffic per source).
"""

from __future__ import annotations

import argparse
import email.utils
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

STATS = "/__stats"


class _Counts:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.bodies = 0
        self.bytes = 0
        self.not_modified = 0
        self.sources: set[str] = set()  # distinct paths whose body was sent

    def as_dict(self) -> dict[str, int]:
        with self.lock:
            return {
                "requests": self.requests,
                "bodies": self.bodies,
                "bytes": self.bytes,
                "not_modified": self.not_modified,
                "sources": len(self.sources),
            }


def handler(root: Path, counts: _Counts) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as every fetcher under test uses

        def do_GET(self) -> None:
            path = unquote(urlsplit(self.path).path)
            if path == STATS:
                self._send(200, json.dumps(counts.as_dict()).encode(), {"Content-Type": "application/json"})
                return
            with counts.lock:
                counts.requests += 1
            file = (root / path.lstrip("/")).resolve()
            if not file.is_relative_to(root) or not file.is_file():
                self._send(404, b"not here", {"Content-Type": "text/plain"})
                return
            info = file.stat()
            etag = f'"{info.st_size:x}-{info.st_mtime_ns:x}"'
            modified = email.utils.formatdate(info.st_mtime, usegmt=True)
            validators = {"ETag": etag, "Last-Modified": modified, "Cache-Control": "public, max-age=60"}
            if self.headers.get("If-None-Match") == etag or (
                "If-None-Match" not in self.headers and self.headers.get("If-Modified-Since") == modified
            ):
                with counts.lock:
                    counts.not_modified += 1
                self._send(304, b"", validators)
                return
            body = file.read_bytes()
            with counts.lock:
                counts.bodies += 1
                counts.bytes += len(body)
                counts.sources.add(path)
            self._send(200, body, {**validators, "Content-Type": "application/octet-stream"})

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if status != 304:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler(args.root.resolve(), _Counts()))
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
