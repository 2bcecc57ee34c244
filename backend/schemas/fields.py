"""Marshmallow fields that apply the contract's rules for strings, numbers, dates and times."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from marshmallow import ValidationError, fields

from backend.models import MAX_ROW_ID, Priority
from backend.passwords import LENGTH_MESSAGE, PASSWORD_MAX

INT32_MAX = MAX_ROW_ID
PRIORITY_NAMES = {member.value: member.name.lower() for member in Priority}
PRIORITY_RANKS = {name: rank for rank, name in PRIORITY_NAMES.items()}
QUERY_INTEGER = re.compile(r"-?[0-9]{1,18}")
DATE_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
RFC3339_PATTERN = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})", re.ASCII
)
RFC3339_MESSAGE = "Not a valid RFC 3339 time: use e.g. 2026-11-25T12:00:00Z."
MULTILINE_CONTROLS = frozenset("\n\r\t")


def is_forbidden_char(char: str, allowed: frozenset[str] = frozenset()) -> bool:
    """Tell whether `char` is a control character (Cc) or a lone surrogate (Cs) not allowed."""
    return char not in allowed and unicodedata.category(char) in {"Cc", "Cs"}


def check_characters(value: str, allowed: frozenset[str] = frozenset()) -> None:
    """Raise when `value` holds NUL, a lone surrogate or another control character."""
    if any(is_forbidden_char(char, allowed) for char in value):
        raise ValidationError("Must not contain control characters or lone surrogates.")


def trim(value: str) -> str:
    """Strip surrounding whitespace, except control characters other than tab and newlines."""
    start, end = 0, len(value)
    while start < end and _trimmable(value[start]):
        start += 1
    while end > start and _trimmable(value[end - 1]):
        end -= 1
    return value[start:end]


def _trimmable(char: str) -> bool:
    """Tell whether `char` is whitespace that trimming removes."""
    return char.isspace() and not is_forbidden_char(char, MULTILINE_CONTROLS)


class CleanString(fields.String):
    """A string that is trimmed, then refused if it holds control characters.

    Empty after trimming: null when the field allows null, else an error.
    """

    def __init__(self, *, multiline: bool = False, **kwargs: Any) -> None:
        """Create the field; `multiline` allows newlines and tabs inside the value."""
        super().__init__(**kwargs)
        self.allowed = MULTILINE_CONTROLS if multiline else frozenset()

    def deserialize(
        self, value: Any, attr: str | None = None, data: Mapping[str, Any] | None = None, **kwargs
    ) -> Any:
        """Turn an empty optional string into null before the validators run."""
        if isinstance(value, str) and self.allow_none and not trim(value):
            return None
        return super().deserialize(value, attr, data, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        """Type-check, trim and check the characters."""
        text = trim(super()._deserialize(value, attr, data, **kwargs))
        if not text:
            raise ValidationError("Must not be empty.")
        check_characters(text, self.allowed)
        return text


class Password(fields.String):
    """A password: never trimmed; the policy of a new one runs as its validator."""

    def __init__(self, *, new: bool = False, **kwargs: Any) -> None:
        """Create the field; a `new` one (being set) is refused by its length alone if too long."""
        super().__init__(**kwargs)
        self.new = new

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        """Type-check, refuse by length alone if too long, then refuse control characters."""
        text = super()._deserialize(value, attr, data, **kwargs)
        if self.new and len(text) > PASSWORD_MAX:
            raise ValidationError(LENGTH_MESSAGE)
        check_characters(text)
        return text


class StrictInteger(fields.Integer):
    """A JSON integer: no strings, no floats, no booleans."""

    def __init__(self, **kwargs: Any) -> None:
        """Create a strict integer field."""
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        """Refuse booleans, which Python counts as integers."""
        if isinstance(value, bool):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class QueryInteger(fields.Integer):
    """An integer query parameter in ASCII digits, optionally signed: not `5_0` or full-width."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        """Refuse every form `int()` accepts beyond plain ASCII digits."""
        if not isinstance(value, str) or not QUERY_INTEGER.fullmatch(value):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class StrictDate(fields.Date):
    """A calendar date written exactly as `YYYY-MM-DD`."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> date:
        """Trim, then refuse other ISO forms (`20261201`, week dates) before parsing."""
        if not isinstance(value, str) or not DATE_PATTERN.fullmatch(trim(value)):
            raise ValidationError("Not a valid date: use YYYY-MM-DD.")
        return super()._deserialize(trim(value), attr, data, **kwargs)


class UTCTime(fields.DateTime):
    """An RFC 3339 time; written in UTC with a `Z` and six fractional digits."""

    def _serialize(self, value: datetime | None, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        """Write the time as `YYYY-MM-DDTHH:MM:SS.ffffffZ`."""
        if value is None:
            return None
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        """Read an RFC 3339 time (which always names its offset) as an aware UTC time."""
        match = RFC3339_PATTERN.fullmatch(trim(value)) if isinstance(value, str) else None
        if match is None:
            raise ValidationError(RFC3339_MESSAGE)
        day, clock, fraction, offset = match.groups()
        micros = (fraction or "")[1:7].ljust(6, "0")
        zone = "+00:00" if offset in {"Z", "z"} else offset
        try:
            return datetime.fromisoformat(f"{day}T{clock}.{micros}{zone}").astimezone(UTC)
        except (ValueError, OverflowError):  # not a real time, or beyond year 1-9999 in UTC
            raise ValidationError(RFC3339_MESSAGE) from None


class PriorityField(fields.Field):
    """A priority: `low`, `medium` or `high` outside, its rank inside."""

    def _serialize(self, value: int | None, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        """Write a rank as its name."""
        return None if value is None else PRIORITY_NAMES[value]

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        """Read a name (trimmed) as its rank."""
        if not isinstance(value, str) or trim(value) not in PRIORITY_RANKS:
            raise ValidationError("Must be one of: low, medium, high.")
        return PRIORITY_RANKS[trim(value)]


class CommaSeparated(fields.Field):
    """A query parameter holding one choice or a comma-separated list of choices."""

    def __init__(self, choices: Sequence[str], **kwargs: Any) -> None:
        """Create the field over the allowed `choices`."""
        super().__init__(**kwargs)
        self.choices = tuple(choices)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[str]:
        """Split, check each item, and drop repeats while keeping order."""
        if not isinstance(value, str):
            raise ValidationError("Not a valid string.")
        items = [item.strip() for item in value.split(",")]
        wrong = [item for item in items if item not in self.choices]
        if wrong:
            raise ValidationError(
                f"Unknown value {wrong[0]!r}: use one or more of {', '.join(self.choices)}."
            )
        return list(dict.fromkeys(items))
