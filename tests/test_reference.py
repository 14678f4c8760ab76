"""The committed references in docs/ are exactly what the code generates, and cover every option and setting."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from enlarger.options import TABLE, render_value
from enlarger.reference import REFERENCES, options_reference, settings_reference
from enlarger.settings import ENV_PREFIX, Settings

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.mark.parametrize("topic", ["options", "settings"])
def test_committed_reference_is_current(topic: str) -> None:
    committed = (DOCS / f"{topic}.md").read_text(encoding="utf-8")
    generated = REFERENCES[topic]()
    assert committed == generated, f"docs/{topic}.md is stale: run `enlarger docs {topic} --write docs`"


def _rows(text: str) -> dict[str, str]:
    """First cell (without backticks) → the whole row, for the table rows of a reference."""
    rows = {}
    for line in text.splitlines():
        if line.startswith("| `"):
            rows[line.split("|")[1].strip().strip("`")] = line
    return rows


def test_every_option_is_in_the_options_reference() -> None:
    rows = _rows(options_reference())
    assert list(rows) == [opt.name for opt in TABLE]
    for opt in TABLE:
        row = rows[opt.name]
        for alias in opt.aliases:
            assert f"`{alias}`" in row
        assert opt.allowed.replace("|", "\\|") in row
        assert opt.doc.replace("|", "\\|") in row
        if opt.default is not None:
            assert f"`{render_value(opt.default)}`" in row


def test_every_setting_is_in_the_settings_reference() -> None:
    rows = _rows(settings_reference())
    fields = dataclasses.fields(Settings)
    assert list(rows) == [f.name for f in fields]
    for f in fields:
        row = rows[f.name]
        assert f"`{ENV_PREFIX}{f.name.upper()}`" in row
        assert f"`{f.default}`" in row
        assert f.metadata["doc"] in row


def test_table_rows_have_six_cells() -> None:
    # escaped pipes inside cells must not add columns
    for line in _rows(options_reference()).values():
        assert line.replace("\\|", "").count("|") == 7
    for line in _rows(settings_reference()).values():
        assert line.replace("\\|", "").count("|") == 7


def test_references_end_with_one_newline() -> None:
    for render in (options_reference, settings_reference):
        text = render()
        assert text.endswith("\n")
        assert not text.endswith("\n\n")
