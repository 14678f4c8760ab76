"""The ``enlarger`` command: transform and inspect images, print the references.

Errors are printed as one readable line and mapped to exit codes by the error type
(2: bad options or settings, 3: bad input image, 4: feature not configured, 1: files).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from enlarger import provenance
from enlarger.cli_admin import add_commands
from enlarger.codecs import harden
from enlarger.doctor import add_command as add_doctor
from enlarger.errors import EnlargerError
from enlarger.formats import SUFFIXES
from enlarger.importing.cli import add_command as add_import_command
from enlarger.options import parse_options
from enlarger.pipeline import info, transform
from enlarger.reference import REFERENCES
from enlarger.settings import Settings, SettingsError, load_settings
from enlarger.sources import is_absolute


class CliError(Exception):
    """A problem with the command line's files, reported without a traceback."""


def _read(path: str) -> bytes:
    try:
        return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _write(path: str, data: bytes) -> None:
    """Write atomically, so a failed run never leaves a half-written output behind."""
    if path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    target = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent or Path("."), prefix=f".{target.name}.")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config)


def _cmd_transform(args: argparse.Namespace) -> int:
    options = parse_options(args.options)
    suffix_format = SUFFIXES.get(Path(args.output).suffix.lower())
    if options.format is None and suffix_format is not None:
        options = options.replace(format=suffix_format)
    result = transform(_read(args.input), options, accept=args.accept, settings=_settings(args))
    _write(args.output, result.data)
    if args.output != "-":
        print(
            f"{args.output}: {result.format} {result.width}×{result.height}, {len(result.data):,} bytes",
            file=sys.stderr,
        )
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    print(json.dumps(info(_read(args.input), _settings(args)), indent=2))
    return 0


def _example_source(origin: Path) -> str:
    """An image in the origin directory to show in the example URL (the bundled sample if empty)."""
    images = sorted(p for p in origin.iterdir() if p.is_file() and not p.name.startswith("."))
    if images:
        return images[0].name
    sample = resources.files("enlarger") / "assets" / "sample.jpg"
    (origin / "sample.jpg").write_bytes(sample.read_bytes())
    return "sample.jpg"


def _cmd_serve(args: argparse.Namespace) -> int:
    from enlarger.server.app import prepare_directories
    from enlarger.server.serve import log_access_to_stderr, run

    overrides = {
        "host": args.host,
        "port": args.port,
        "data_dir": args.data_dir,
        "origin": args.origin,
        "tls_cert": args.tls_cert,
        "tls_key": args.tls_key,
    }
    settings = load_settings(args.config, **overrides, processes=args.processes)
    prepare_directories(settings)
    origin = settings.origin_location
    example = "photo.jpg" if is_absolute(origin) else _example_source(Path(origin))
    scheme = "https" if settings.tls_cert else "http"
    base = f"{scheme}://{settings.host if ':' not in settings.host else f'[{settings.host}]'}:{settings.port}"
    print(f"Enlarger listening on {base} (data: {settings.data_dir}, origin: {origin})", file=sys.stderr)
    print(f"Try: {base}/cdn-cgi/image/width=400,format=auto/{example}", file=sys.stderr)
    if settings.process_count > 1:
        print(f"{settings.process_count} server processes", file=sys.stderr)
    log_access_to_stderr()
    return run(settings)


def _cmd_docs(args: argparse.Namespace) -> int:
    text = REFERENCES[args.topic]()
    if args.write:
        _write(str(Path(args.write) / f"{args.topic}.md"), text.encode())
    else:
        sys.stdout.write(text)
    return 0


def _cmd_c2pa_verify(args: argparse.Namespace) -> int:
    trust = _read(args.trust) if args.trust else None
    found = provenance.verify(_read(args.input), _settings(args), trust)
    print(json.dumps(found, indent=2) if args.json else "\n".join(provenance.describe_chain(found)))
    return 0 if found["present"] and found["validation_state"] in provenance.KEPT_STATES else 3


def _add_c2pa(commands: Any) -> None:
    c2pa = commands.add_parser("c2pa", help="Content Credentials (C2PA) tools").add_subparsers(
        dest="c2pa_command", required=True, metavar="COMMAND"
    )
    p = c2pa.add_parser(
        "verify",
        help="validate a file's Content Credentials and print the chain",
        description="Validate INPUT's C2PA manifests (offline) and print each one, newest first. Exit status 0 "
        "when the credentials are Valid or Trusted, 3 when they are missing or invalid.",
    )
    p.add_argument("input", metavar="INPUT", help="image file, or - for stdin")
    p.add_argument("--trust", metavar="PEM", help="root certificates to trust, besides c2pa_trust_anchors")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_cmd_c2pa_verify)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="enlarger", description="Transform images with Cloudflare Images options.")
    parser.add_argument("--config", type=Path, help="TOML settings file (default: $ENLARGER_CONFIG)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser(
        "transform",
        help="transform one image",
        description=(
            "Transform INPUT into OUTPUT. Without format= in --options, the format follows OUTPUT's "
            "suffix (.jpg .png .webp .avif .gif .json), else the source's family. Use - for stdin/stdout."
        ),
    )
    p.add_argument("input", metavar="INPUT", help="source image file, or - for stdin")
    p.add_argument("output", metavar="OUTPUT", help="output file, or - for stdout")
    p.add_argument("-o", "--options", default="", help="options, e.g. width=400,height=300,fit=cover")
    p.add_argument("--accept", help="an HTTP Accept header, for format=auto")
    p.set_defaults(run=_cmd_transform)

    p = commands.add_parser(
        "info",
        help="print an image's format, size and frames as JSON",
        description="Read INPUT's header (no pixels decoded) and print it as JSON.",
    )
    p.add_argument("input", metavar="INPUT", help="image file, or - for stdin")
    p.set_defaults(run=_cmd_info)

    p = commands.add_parser(
        "serve",
        help="run the HTTP service",
        description="Serve /cdn-cgi/image/<options>/<source> on the embedded default (local cache and origin). "
        "Every flag is also a setting (TOML file or ENLARGER_* variable).",
    )
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to listen on (default 8080)")
    p.add_argument("--data-dir", type=Path, help="cache and data directory (default ./enlarger-data)")
    p.add_argument("--origin", help="directory or http(s) base URL of relative sources (default <data-dir>/origin)")
    p.add_argument("--processes", type=int, help="server processes sharing the port; 0: one per core (default 1)")
    p.add_argument("--tls-cert", metavar="PEM", help="certificate chain: serve HTTPS (with --tls-key)")
    p.add_argument("--tls-key", metavar="PEM", help="private key of --tls-cert")
    p.set_defaults(run=_cmd_serve)

    add_commands(commands)
    add_doctor(commands)
    _add_c2pa(commands)  # Content Credentials (issue 16)
    add_import_command(commands)  # bulk import (issue 18)

    p = commands.add_parser("docs", help="print a reference page", description="Print a generated reference page.")
    p.add_argument("topic", choices=sorted(REFERENCES), help="which reference")
    p.add_argument("--write", metavar="DIR", help="write DIR/<topic>.md instead of printing")
    p.set_defaults(run=_cmd_docs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    harden()
    try:
        status: int = args.run(args)
    except EnlargerError as exc:
        print(f"enlarger: error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except SettingsError as exc:
        print(f"enlarger: error: {exc}", file=sys.stderr)
        return 2
    except CliError as exc:
        print(f"enlarger: error: {exc}", file=sys.stderr)
        return 1
    return status


if __name__ == "__main__":
    sys.exit(main())
