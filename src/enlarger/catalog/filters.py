"""Which images a listing returns: the ``creator`` filter and the v2 list's metadata filters.

Cloudflare's v2 list takes ``meta.<field>[<operator>]=<value>`` query parameters (SDK
``images/v2`` docstring): ``eq``/``eq:string``/``eq:number``/``eq:boolean``, the number-only
ranges ``gt``/``gte``/``lt``/``lte`` (with or without ``:number``), and ``in``/``in:string``/
``in:number`` over a pipe-separated list of at most 10 values; at most 5 filters, at most 5
levels of nesting (``meta.a.b.c.d.e``), all ANDed. They are parsed here into typed
:class:`MetaFilter` values and compiled into SQL, never applied to rows in Python:

- PostgreSQL keeps metadata as JSONB with a GIN ``jsonb_path_ops`` index; every equality and
  ``in`` becomes containment (``meta @> '{"a":{"b":"x"}}'``), which that index answers. Ranges
  compare ``(meta #>> path)::numeric`` behind a ``jsonb_typeof = 'number'`` guard.
- SQLite compares ``json_extract`` under a ``json_type`` check, so ``"5"`` (text) never equals
  ``5`` (number) on either database.

Untyped ``eq`` and ``in`` are silent on the value's type in the docs; here they match every
type the text can be: ``eq=5`` matches the string ``"5"`` and the number 5, ``eq=true`` the
string and the boolean (``in`` covers strings and numbers, the types its typed forms name).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Numeric, and_, case, false, func, or_, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import ColumnElement

from enlarger.errors import RequestError

MAX_FILTERS = 5
MAX_DEPTH = 5
MAX_IN_VALUES = 10
RANGES = ("gt", "gte", "lt", "lte")
OPERATORS = (
    "eq", "eq:string", "eq:number", "eq:boolean",
    *RANGES, *(f"{op}:number" for op in RANGES),
    "in", "in:string", "in:number",
)  # fmt: skip
_KEY = re.compile(r"^meta\.(?P<path>[^\[\]]+)\[(?P<op>[^\]]*)\]$")
_FORM = "meta.<field>[<operator>]=<value>"

Scalar = str | float | int | bool


@dataclass(frozen=True)
class MetaFilter:
    """One metadata condition: the field's path, and the values it may equal or the range it must meet.

    ``op`` is ``eq`` (the field equals one of ``values``, each typed: a str, a number or a
    bool) or a range (``gt``, ``gte``, ``lt``, ``lte``) against the single number in ``values``.
    """

    path: tuple[str, ...]
    op: str
    values: tuple[Scalar, ...]


@dataclass(frozen=True)
class ImageFilter:
    """What a listing keeps: a creator (``""`` = images without one; None = any) and metadata filters."""

    creator: str | None = None
    meta: tuple[MetaFilter, ...] = ()


def _number(text: str, key: str) -> float | int:
    try:
        value = float(text)
    except ValueError:
        raise RequestError(f"{key}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise RequestError(f"{key}: {text!r} is not a finite number")
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def _boolean(text: str, key: str) -> bool:
    if text not in ("true", "false"):
        raise RequestError(f"{key}: {text!r} is not a boolean (true or false)")
    return text == "true"


def _untyped(text: str) -> tuple[Scalar, ...]:
    """Every type ``text`` can stand for: always the string, then a number or a boolean."""
    try:
        return (text, _number(text, ""))
    except RequestError:
        return (text, text == "true") if text in ("true", "false") else (text,)


def _path(raw: str, key: str) -> tuple[str, ...]:
    path = tuple(raw.split("."))
    if any(not part for part in path):
        raise RequestError(f"{key}: empty field name; filters look like {_FORM}")
    if len(path) > MAX_DEPTH:
        raise RequestError(f"{key}: metadata filters reach at most {MAX_DEPTH} levels deep")
    if any('"' in part or not part.isprintable() for part in path):
        raise RequestError(f"{key}: field names must not contain quotes or control characters")
    return path


def _filter(key: str, text: str) -> MetaFilter:
    match = _KEY.match(key)
    if match is None:
        raise RequestError(f"invalid metadata filter {key!r}: filters look like {_FORM}, e.g. meta.status[eq]=active")
    op, path = match["op"], _path(match["path"], key)
    if op not in OPERATORS:
        raise RequestError(f"{key}: unknown operator {op!r}; use one of {', '.join(OPERATORS)}")
    name, _, kind = op.partition(":")
    if name in RANGES:
        return MetaFilter(path, name, (_number(text, key),))
    if name == "eq":
        typed: dict[str, Callable[[], tuple[Scalar, ...]]] = {
            "": lambda: _untyped(text),
            "string": lambda: (text,),
            "number": lambda: (_number(text, key),),
            "boolean": lambda: (_boolean(text, key),),
        }
        return MetaFilter(path, "eq", typed[kind]())
    items = text.split("|")
    if len(items) > MAX_IN_VALUES:
        raise RequestError(f"{key}: at most {MAX_IN_VALUES} values in a list, got {len(items)}")
    if kind == "number":
        values: tuple[Scalar, ...] = tuple(_number(item, key) for item in items)
    elif kind == "string":
        values = tuple(items)
    else:
        values = tuple(v for item in items for v in _untyped(item) if not isinstance(v, bool))
    return MetaFilter(path, "eq", values)


def parse_meta_filters(query: Iterable[tuple[str, str]]) -> tuple[MetaFilter, ...]:
    """The ``meta.…`` parameters of a query string (other parameters are not looked at)."""
    found = tuple(_filter(key, value) for key, value in query if key == "meta" or key.startswith(("meta.", "meta[")))
    if len(found) > MAX_FILTERS:
        raise RequestError(f"at most {MAX_FILTERS} metadata filters per request, got {len(found)}")
    return found


def _nested(path: tuple[str, ...], value: Scalar) -> dict[str, Any]:
    document: Any = value
    for part in reversed(path):
        document = {part: document}
    result: dict[str, Any] = document
    return result


def _compare(left: ColumnElement[Any], op: str, number: Scalar) -> ColumnElement[bool]:
    comparisons = {"gt": left > number, "gte": left >= number, "lt": left < number, "lte": left <= number}
    return comparisons[op]


def _postgresql(column: ColumnElement[Any], f: MetaFilter) -> ColumnElement[bool]:
    meta = type_coerce(column, JSONB)
    if f.op == "eq":  # containment: answered by the GIN jsonb_path_ops index
        return or_(*(meta.contains(_nested(f.path, value)) for value in f.values))
    node = meta[f.path]
    number = case((func.jsonb_typeof(node) == "number", node.astext.cast(Numeric)), else_=None)
    return _compare(number, f.op, f.values[0])


def _sqlite(column: ColumnElement[Any], f: MetaFilter) -> ColumnElement[bool]:
    path = "$" + "".join(f'."{part}"' for part in f.path)
    kind, value = func.json_type(column, path), func.json_extract(column, path)
    is_number = kind.in_(("integer", "real"))
    if f.op != "eq":
        return _compare(case((is_number, value), else_=None), f.op, f.values[0])
    matches: list[ColumnElement[bool]] = []
    for candidate in f.values:
        if isinstance(candidate, bool):
            matches.append(kind == ("true" if candidate else "false"))
        elif isinstance(candidate, str):
            matches.append(and_(kind == "text", value == candidate))
        else:
            matches.append(and_(is_number, value == candidate))
    return or_(*matches) if matches else false()


def meta_condition(column: ColumnElement[Any], f: MetaFilter, dialect: str) -> ColumnElement[bool]:
    """``f`` as a SQL condition on the metadata ``column`` for the ``dialect`` in use."""
    return _postgresql(column, f) if dialect == "postgresql" else _sqlite(column, f)
