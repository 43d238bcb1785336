"""Bot API error responses raised by the fake server.

Handlers raise :class:`ApiError`; the HTTP layer turns it into the exact JSON body and HTTP
status code Telegram uses (``{"ok": false, "error_code": 400, "description": "Bad Request: ..."}``)
because python-telegram-bot maps the *HTTP status* to its exception classes (400 -> BadRequest,
401/404 -> InvalidToken/EndPointNotFound, 403 -> Forbidden, 409 -> Conflict, 429 -> RetryAfter).
"""

from __future__ import annotations

import reprlib
from dataclasses import dataclass, field
from typing import Any

_SHORT = reprlib.Repr()  # keyword arguments need Python 3.12
_SHORT.maxstring = _SHORT.maxother = 80


class ApiError(Exception):
    """A Bot API failure with Telegram's error code, description and optional parameters."""

    def __init__(
        self, error_code: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.parameters = parameters

    def to_json(self) -> dict[str, Any]:
        """The response body Telegram sends for this error."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(reason: str) -> ApiError:
    """A 400 error; Telegram prefixes every such description with ``Bad Request: ``."""
    return ApiError(400, f"Bad Request: {reason}")


def forbidden(reason: str) -> ApiError:
    """A 403 error, e.g. when the user blocked the bot."""
    return ApiError(403, f"Forbidden: {reason}")


@dataclass(frozen=True)
class RecordedError:
    """One failed request, kept in ``server.errors`` so a fixture can fail the test."""

    method: str
    params: dict[str, Any] = field(repr=False)
    error_code: int
    description: str

    def __str__(self) -> str:
        params = _SHORT.repr(self.params)
        return f"{self.method} -> {self.error_code} {self.description} (params={params})"
