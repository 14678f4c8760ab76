"""NUL characters: refused wherever a request brings text, before anything reads or stores it.

A NUL (U+0000) is legal in a percent-encoded URL, in JSON (``\\u0000``) and in form fields, but
PostgreSQL refuses it in every text and JSON column and the operating system in every file
name. Left alone it surfaces as a database or OS error deep inside a request: a 500 with a
traceback, and on an upload a stored blob without its row. Every door checks once, up front, and
answers 400 instead (docs/security.md, "Hostile input").
"""

from __future__ import annotations

from enlarger.errors import RequestError

NUL = "\x00"


def contains_nul(value: object) -> bool:
    """Whether ``value`` — text, or JSON-shaped lists and objects of it (keys included) — holds a NUL."""
    pending = [value]
    while pending:  # a loop, not recursion: a deeply nested JSON body must not exhaust the stack
        item = pending.pop()
        if isinstance(item, str):
            if NUL in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, (list, tuple)):
            pending.extend(item)
    return False


def refuse_nul(value: object, where: str, *, code: int | None = None) -> None:
    """Raise a 400 naming ``where`` when ``value`` holds a NUL; ``code`` overrides the API's 5400."""
    if contains_nul(value):
        raise RequestError(f"{where} contains a NUL character (\\u0000), which is not allowed", code=code)
