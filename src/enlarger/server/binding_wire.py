"""The binding's wire protocol: the multipart form workerd's ``images-api`` module sends, as a tree.

``POST /transform`` carries (in this order, as workerd writes it):

- the canvas: ``image`` (a file) or ``text_input`` (JSON ``{"text", "font", "size"?, "color"?}``);
- overlays: ``draw_image`` files and ``draw_text`` JSON parts, numbered 1, 2, … in the order they
  appear, both kinds counted together (image 0 is the canvas);
- ``transforms``: a JSON list, depth first, of ``{"imageIndex": i, …transform options}`` and
  ``{"drawImageIndex": d, "targetImageIndex": t, …draw options}``: an overlay's own transforms come
  before the entry that draws it;
- ``output_format`` (a media type; ``undefined`` when the Worker gave none), ``output_quality``,
  ``background``, ``anim``.

``POST /info`` carries ``image`` only. :func:`read_transform` builds the same :class:`Node` tree as
the Python API, so both accept the same options with the same errors.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.datastructures import FormData, UploadFile

from enlarger.binding.graph import Draw, Node, Output, Transform, draw_options, output_options, transform_options
from enlarger.binding.text import TextSource, text_source
from enlarger.errors import FileTooLargeError, OptionError, RequestError

MAX_IMAGES = 64  #: canvas and overlays in one request
MAX_TRANSFORMS = 256


async def read_transform(form: FormData, limit: int) -> tuple[Node, Output]:
    """The tree and output options of a ``/transform`` form; each image at most ``limit`` bytes."""
    sources: list[bytes | TextSource] = []
    canvas: bytes | TextSource | None = None
    for name, value in form.multi_items():
        if name in ("image", "text_input"):
            if canvas is not None:
                raise RequestError("send one canvas: 'image' or 'text_input', once")
            canvas = await _source(name, value, limit)
        elif name in ("draw_image", "draw_text"):
            sources.append(await _source(name, value, limit))
            if len(sources) >= MAX_IMAGES:
                raise RequestError(f"at most {MAX_IMAGES - 1} overlays in one request")
    if canvas is None:
        raise RequestError("the form has no 'image' or 'text_input' to transform")
    node = _tree([canvas, *sources], _json_list(form.get("transforms")))
    output = output_options(
        _text(form, "output_format"), _text(form, "output_quality"), _text(form, "background"), _text(form, "anim")
    )
    return node, output


async def read_info(form: FormData, limit: int) -> bytes:
    """The image of an ``/info`` form."""
    value = form.get("image")
    if value is None:
        raise RequestError("the form has no 'image' to describe")
    data = await _source("image", value, limit)
    assert isinstance(data, bytes)
    return data


async def _source(name: str, value: UploadFile | str, limit: int) -> bytes | TextSource:
    if name in ("text_input", "draw_text"):
        text = value if isinstance(value, str) else (await value.read(64 * 1024)).decode("utf-8", "replace")
        spec = _json(name, text)
        if not isinstance(spec, Mapping):
            raise OptionError(name, text, 'a JSON object {"text": ..., "font": ..., "size": ..., "color": ...}')
        options = {k: v for k, v in spec.items() if k != "text"}
        return text_source(spec.get("text"), options)
    data = value.encode() if isinstance(value, str) else await value.read(limit + 1)
    if len(data) > limit:
        raise FileTooLargeError(f"the image '{name}' is over the limit of {limit:,} bytes")
    return data


def _tree(sources: list[bytes | TextSource], entries: list[Any]) -> Node:
    """Nodes from the depth-first list of transform and draw entries."""
    if len(entries) > MAX_TRANSFORMS:
        raise RequestError(f"at most {MAX_TRANSFORMS} transforms and draws in one request")
    steps: list[list[Transform | Draw]] = [[] for _ in sources]
    drawn: set[int] = set()
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise RequestError(f"each transform must be a JSON object, got {entry!r}")
        options = dict(entry)
        if "drawImageIndex" in options:
            child = _index(options.pop("drawImageIndex"), len(sources), "drawImageIndex")
            target = _index(options.pop("targetImageIndex", 0), len(sources), "targetImageIndex")
            if child == 0 or child == target or child in drawn or target in drawn:
                raise RequestError(f"image {child} cannot be drawn on image {target} (each overlay is drawn once)")
            drawn.add(child)
            place, own = draw_options(options)
            steps[target].append(Draw(Node(sources[child], tuple(steps[child])), place, own))
        else:
            index = _index(options.pop("imageIndex", 0), len(sources), "imageIndex")
            if index in drawn:
                raise RequestError(f"image {index} is transformed after it was drawn")
            steps[index].append(Transform(transform_options(options)))
    undrawn = [i for i in range(1, len(sources)) if i not in drawn]
    if undrawn:
        raise RequestError(f"overlay image {undrawn[0]} is sent but never drawn")
    return Node(sources[0], tuple(steps[0]))


def _index(raw: object, count: int, name: str) -> int:
    """An image index; absent means the canvas (image 0): older workerd releases and
    ``@cloudflare/images`` send transforms without ``imageIndex``."""
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw < count:
        raise RequestError(f"{name} must be an image index from 0 to {count - 1}, got {json.dumps(raw)}")
    return raw


def _json(name: str, text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise RequestError(f"'{name}' is not valid JSON: {exc}") from exc


def _json_list(value: UploadFile | str | None) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, str):
        raise RequestError("'transforms' must be a text field")
    entries = _json("transforms", value)
    if not isinstance(entries, list):
        raise RequestError("'transforms' must be a JSON list")
    return entries


def _text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    if value is not None and not isinstance(value, str):
        raise RequestError(f"'{name}' must be a text field")
    return value
