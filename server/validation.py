"""Turning raw input (an HTML form or a synced mutation's args) into clean values, or field errors.

Commands validate with these; the same rules serve the form and the offline device.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
import re
import uuid
from collections.abc import Mapping
from typing import Any, TypeVar

from server.errors import Message, ValidationError
from server.i18n import N_

E = TypeVar("E", bound=enum.Enum)

EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE_PATTERN = re.compile(r"^\+?[\d\s().\-/]+$")
REQUIRED = Message(N_("This field is required."))


def digits(value: str) -> str:
    return re.sub(r"\D", "", value)


class Fields:
    """Reads fields from raw input, collecting one error per bad field.

    With `partial=True` (an edit that names only the fields it changes) absent fields are skipped;
    otherwise an absent field counts as empty.
    """

    def __init__(self, raw: Mapping[str, Any], *, partial: bool = False) -> None:
        self.raw = raw
        self.partial = partial
        self.values: dict[str, Any] = {}
        self.errors: dict[str, Message] = {}

    def _take(self, name: str) -> tuple[bool, str]:
        if name not in self.raw:
            return (not self.partial), ""
        value = self.raw[name]
        return True, "" if value is None else str(value).strip()

    def error(self, name: str, message: Message) -> None:
        self.errors.setdefault(name, message)

    def text(self, name: str, *, required: bool = False, max_length: int = 200) -> None:
        present, value = self._take(name)
        if not present:
            return
        if required and not value:
            self.error(name, REQUIRED)
        elif len(value) > max_length:
            self.error(name, Message(N_("Use at most %(max)s characters."), {"max": max_length}))
        else:
            self.values[name] = value

    def number(self, name: str, *, minimum: float, maximum: float) -> None:
        present, value = self._take(name)
        if not present or self._empty(name, value, required=False, empty=None):
            return
        try:
            number = float(value.replace(",", "."))
        except ValueError:
            self.error(name, Message(N_("Enter a number.")))
            return
        if not math.isfinite(number) or not minimum <= number <= maximum:
            self.error(
                name, Message(N_("Enter a number from %(min)s to %(max)s."), {"min": minimum, "max": maximum})
            )
            return
        self.values[name] = number

    def choice(self, name: str, choices: type[E], *, default: E | None = None) -> None:
        present, value = self._take(name)
        if not present:
            return
        if not value and default is not None:
            self.values[name] = default
            return
        try:
            self.values[name] = choices(value)
        except ValueError:
            self.error(name, Message(N_("Choose one of the options.")))

    def _empty(self, name: str, value: str, *, required: bool, empty: Any) -> bool:
        """Handle an empty value (an error if required, else `empty`); True when it was empty."""
        if value:
            return False
        if required:
            self.error(name, REQUIRED)
        else:
            self.values[name] = empty
        return True

    def email(self, name: str, *, required: bool = False) -> None:
        present, value = self._take(name)
        if not present or self._empty(name, value, required=required, empty=""):
            return
        if len(value) > 320 or not EMAIL_PATTERN.match(value):
            self.error(name, Message(N_("Enter an email address like name@example.com.")))
        else:
            self.values[name] = value.lower()

    def phone(self, name: str) -> None:
        present, value = self._take(name)
        if not present:
            return
        if value and (not PHONE_PATTERN.match(value) or not 6 <= len(digits(value)) <= 20):
            self.error(name, Message(N_("Enter a phone number: digits, spaces and + ( ) - only.")))
        else:
            self.values[name] = value

    def uuid(self, name: str, *, required: bool = False) -> None:
        present, value = self._take(name)
        if not present or self._empty(name, value, required=required, empty=None):
            return
        try:
            self.values[name] = uuid.UUID(value)
        except ValueError:
            self.error(name, Message(N_("Choose one of the options.")))

    def date(self, name: str, *, required: bool = False) -> None:
        present, value = self._take(name)
        if not present or self._empty(name, value, required=required, empty=None):
            return
        try:
            self.values[name] = dt.date.fromisoformat(value)
        except ValueError:
            self.error(name, Message(N_("Enter a date like 2026-03-31.")))

    def time(self, name: str) -> None:
        present, value = self._take(name)
        if not present or self._empty(name, value, required=False, empty=None):
            return
        try:
            self.values[name] = dt.time.fromisoformat(value).replace(second=0, microsecond=0, tzinfo=None)
        except ValueError:
            self.error(name, Message(N_("Enter a time like 09:30.")))

    def moment(self, name: str) -> None:
        """A point in time from a device: ISO 8601 with an offset (no offset means UTC)."""
        present, value = self._take(name)
        if not present or self._empty(name, value, required=False, empty=None):
            return
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            self.error(name, Message(N_("Enter a time like 2026-03-31T09:30:00Z.")))
            return
        self.values[name] = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)

    def result(self) -> dict[str, Any]:
        if self.errors:
            raise ValidationError(self.errors)
        return self.values


def parse_uuid(value: Any) -> uuid.UUID | None:
    """A UUID from a path, a form or JSON; None for anything that is not one."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None
