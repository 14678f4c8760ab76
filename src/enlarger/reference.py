"""The user references in ``docs/``, rendered from the option table and the settings object.

Generating them (``enlarger docs options|settings``) and testing that the committed files are
current is what keeps documentation and behaviour from drifting apart.
"""

from __future__ import annotations

import dataclasses
from typing import get_type_hints

from enlarger.options import TABLE, render_value
from enlarger.settings import ENV_PREFIX, Settings


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def options_reference() -> str:
    """Markdown reference of every transformation option (the source of ``docs/options.md``)."""
    lines = [
        "# Transformation options",
        "",
        "Options are written `name=value` and separated by commas in URLs",
        "(`/cdn-cgi/image/width=400,fit=cover/photo.jpg`), or given as a JSON object",
        '(`{"width": 400, "fit": "cover", "border": {"color": "red", "width": 4}}`).',
        "Names are case-insensitive and `_` may stand for `-`. Giving an option twice is an error.",
        "This page is generated from the `Options` fields in `src/enlarger/options.py` (`enlarger docs options`).",
        "",
        "| option | aliases | type | allowed values | default | what it does |",
        "|---|---|---|---|---|---|",
    ]
    for opt in TABLE:
        aliases = ", ".join(f"`{a}`" for a in opt.aliases)
        default = "" if opt.default is None else f"`{render_value(opt.default)}`"
        doc = f"{opt.doc} Example: `{opt.example}`"  # each example is run through the engine by a test
        lines.append(f"| `{opt.name}` | {aliases} | {opt.kind} | {_cell(opt.allowed)} | {default} | {_cell(doc)} |")
    return "\n".join(lines) + "\n"


def settings_reference() -> str:
    """Markdown reference of every setting (the source of ``docs/settings.md``)."""
    lines = [
        "# Settings",
        "",
        "Every setting can be given in a TOML file (path in `--config` or `ENLARGER_CONFIG`) or as an",
        "environment variable `ENLARGER_<NAME>`; the environment wins over the file.",
        "This page is generated from `src/enlarger/settings.py` (`enlarger docs settings`).",
        "",
        "| setting | environment | type | default | allowed | what it does |",
        "|---|---|---|---|---|---|",
    ]
    hints = get_type_hints(Settings)
    for f in dataclasses.fields(Settings):
        kind = getattr(hints[f.name], "__name__", str(hints[f.name]))
        low, high = f.metadata["range"]
        allowed = f"{low}–{high}" if high is not None else f"≥ {low}"
        lines.append(
            f"| `{f.name}` | `{ENV_PREFIX}{f.name.upper()}` | {kind} | `{f.default}` | {allowed} "
            f"| {_cell(f.metadata['doc'])} |"
        )
    return "\n".join(lines) + "\n"


REFERENCES = {"options": options_reference, "settings": settings_reference}
