"""Errors a command raises for reasons a person can act on (never a 500)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Message:
    """A translatable message: an English msgid plus the values it interpolates."""

    text: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def render(self, gettext: Any = None) -> str:
        template = gettext(self.text) if gettext else self.text
        return template % dict(self.params) if self.params else template


class CommandError(Exception):
    """Base of the errors a command raises when it refuses to change anything."""

    code = "rejected"
    status_code = 400

    def __init__(self, message: Message | str) -> None:
        self.message = message if isinstance(message, Message) else Message(message)
        super().__init__(self.message.render())


class ValidationError(CommandError):
    """Input that does not describe a valid record; `errors` maps each field to what is wrong with it."""

    code = "invalid"
    status_code = 422

    def __init__(self, errors: Mapping[str, Message]) -> None:
        self.errors = dict(errors)
        super().__init__(Message("Please correct the highlighted fields."))


class PermissionDenied(CommandError):
    code = "forbidden"
    status_code = 403


class NotFound(CommandError):
    code = "not_found"
    status_code = 404
