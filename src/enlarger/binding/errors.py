"""The binding's error: one type with Cloudflare's binding code, in the binding's words.

workerd's ``images-api`` turns a failed call into ``ImagesError`` with ``code`` and the message
``IMAGES_<TRANSFORM|INFO>_ERROR NNNN: text``; :class:`ImagesError` is the same for Python callers
(and an :class:`~enlarger.errors.EnlargerError`, so the server maps it like any other). The
binding answers "not an image" with 9412 where the URL interface says 9520, hence :func:`binding_code`.
"""

from __future__ import annotations

from typing import Literal

from enlarger.errors import EnlargerError, InputTooLargeError, RequestError, UnsupportedFormatError

Operation = Literal["TRANSFORM", "INFO"]
#: workerd's text for a transformer used twice (``images-api.ts``), word for word
CONSUMED = "ImageTransformer consumed; you may only call .output() or draw a transformer once"


class ImagesError(EnlargerError):
    """A binding call failed; ``code`` is Cloudflare's, ``str()`` reads like the Workers runtime's."""

    def __init__(self, message: str, *, code: int, status: int = 400, operation: Operation = "TRANSFORM") -> None:
        super().__init__(message, code=code)
        self.status = status
        self.operation = operation

    def __str__(self) -> str:
        return f"IMAGES_{self.operation}_ERROR {self.code}: {self.message}"

    @classmethod
    def wrap(cls, error: EnlargerError, operation: Operation) -> ImagesError:
        """``error`` as the binding reports it (same message and status, the binding's code)."""
        if isinstance(error, ImagesError):
            return error
        return cls(error.message, code=binding_code(error), status=error.status, operation=operation)


def binding_code(error: EnlargerError) -> int:
    """The binding's code for ``error``: 9412 for bytes that are no image we read, 9424 for a malformed
    request, 9413 for one too large (the hosting API's 5xxx codes mean nothing to a Worker), else its own."""
    if isinstance(error, UnsupportedFormatError):
        return 9412
    if isinstance(error, RequestError):
        return 9424
    if isinstance(error, InputTooLargeError):
        return 9413
    return error.code


def consumed() -> ImagesError:
    """A transformer was output or drawn a second time."""
    return ImagesError(CONSUMED, code=9525)
