"""One typed settings object, read from a TOML file and ``ENLARGER_*`` environment variables.

Precedence: defaults < TOML file (``--config`` or ``ENLARGER_CONFIG``) < environment. Each
field's ``doc`` metadata is the documentation: ``docs/settings.md`` is generated from it (see
``enlarger.reference``), so the reference cannot drift from the code.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

ENV_PREFIX = "ENLARGER_"


class SettingsError(ValueError):
    """A setting has a value of the wrong type or outside its range."""


def _doc(text: str, bounds: tuple[float, float | None] = (0, None)) -> dict[str, object]:
    """Field metadata: the documentation line and the allowed range (checked on construction)."""
    return {"doc": text, "range": bounds}


@dataclass(frozen=True)
class Settings:
    """Every setting of the product. Field names are the TOML keys; ENLARGER_<NAME> overrides."""

    max_input_bytes: int = field(
        default=70 * 1024 * 1024,
        metadata=_doc("Largest source file accepted for transformation, in bytes (checked before decoding)."),
    )
    max_input_pixels: int = field(
        default=100_000_000,
        metadata=_doc("Largest source image in pixels (width × height of one frame), read from the header."),
    )
    max_animation_pixels: int = field(
        default=50_000_000,
        metadata=_doc("Largest animation in total pixels (frames × width × height) when all frames are kept."),
    )
    max_output_side: int = field(
        default=12_000,
        metadata=_doc("Longest side of any output; larger requests are scaled down to fit, keeping the aspect ratio."),
    )
    avif_effort: int = field(
        default=2,
        metadata=_doc("AVIF encoder effort: higher is smaller and slower (compression=fast uses 0).", (0, 9)),
    )
    webp_effort: int = field(
        default=4,
        metadata=_doc("WebP encoder effort: higher is smaller and slower (compression=fast uses 0).", (0, 6)),
    )
    gif_effort: int = field(
        default=4,
        metadata=_doc("GIF palette effort: higher is better colour, much slower (compression=fast uses 1).", (1, 10)),
    )

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            low, high = f.metadata.get("range", (0, None))
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                if value < low or (high is not None and value > high):
                    allowed = f"{low}–{high}" if high is not None else f"at least {low}"
                    raise SettingsError(f"setting {f.name} must be {allowed}, got {value}")

def _convert(name: str, kind: Any, raw: object) -> object:
    try:
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                raise ValueError(raw)
            return text in ("1", "true", "yes", "on")
        if kind is int:
            if isinstance(raw, bool):
                raise ValueError(raw)
            return int(str(raw).replace("_", ""))
        if kind is float:
            return float(str(raw))
        if kind is Path:
            return Path(str(raw)).expanduser()
        return str(raw)
    except ValueError as exc:
        raise SettingsError(f"setting {name}: cannot read {raw!r} as {getattr(kind, '__name__', kind)}") from exc


def load_settings(
    config: Path | None = None,
    env: Mapping[str, str] | None = None,
    **overrides: object,
) -> Settings:
    """Build settings from defaults, the TOML file, the environment and explicit overrides."""
    env = os.environ if env is None else env
    hints = get_type_hints(Settings)
    known = {f.name for f in dataclasses.fields(Settings)}
    values: dict[str, object] = {}
    path = config or (Path(env[f"{ENV_PREFIX}CONFIG"]) if env.get(f"{ENV_PREFIX}CONFIG") else None)
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"cannot read settings file {path}: {exc}") from exc
        unknown = set(data) - known
        if unknown:
            raise SettingsError(f"unknown settings in {path}: {', '.join(sorted(unknown))}")
        values.update(data)
    for name in known:
        key = f"{ENV_PREFIX}{name.upper()}"
        if key in env:
            values[name] = env[key]
    values.update({k: v for k, v in overrides.items() if v is not None})
    converted: dict[str, Any] = {name: _convert(name, hints[name], raw) for name, raw in values.items()}
    return Settings(**converted)
