"""Schemas of the authentication routes: users, credentials, token pairs and sessions."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate

from backend.schemas.common import BodySchema, Schema
from backend.schemas.fields import CleanString, Password, UTCTime

PASSWORD_MIN, PASSWORD_MAX = 8, 128


def password_policy(password: str) -> None:
    """Raise with every rule of the password policy that `password` breaks."""
    broken = []
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        broken.append(f"Must be {PASSWORD_MIN}-{PASSWORD_MAX} characters long.")
    if not any(char.isupper() for char in password):
        broken.append("Must contain an uppercase letter.")
    if not any(char.isdigit() for char in password):
        broken.append("Must contain a digit.")
    if not any(not char.isalpha() and not char.isdigit() for char in password):
        broken.append("Must contain a symbol (a character that is neither a letter nor a digit).")
    if broken:
        raise ValidationError(broken)


class EmailAddress(CleanString):
    """An email address: trimmed and lower-cased before the validators see it.

    Lower-casing first means the length limit holds for the stored form, which can be longer
    (`"İ".lower()` is two characters).
    """

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        """Trim, check the characters, then lower-case."""
        return super()._deserialize(value, attr, data, **kwargs).lower()


def email_field(**kwargs: object) -> EmailAddress:
    """Return the email field: trimmed, lower-cased, a valid address of at most 254 characters."""
    return EmailAddress(
        required=True,
        validate=[validate.Length(max=254), validate.Email(error="Not a valid email address.")],
        metadata={"example": "ada@example.com", "format": "email"},
        **kwargs,  # type: ignore[arg-type]
    )


def name_field() -> CleanString:
    """Return the user's display name field: optional, 1-100 characters, empty means null."""
    return CleanString(
        allow_none=True,
        validate=validate.Length(min=1, max=100),
        metadata={"example": "Ada Lovelace"},
    )


class UserSchema(Schema):
    """A user, as the API shows one."""

    id = fields.Integer(dump_only=True)
    email = fields.String(dump_only=True)
    name = fields.String(dump_only=True, allow_none=True)
    email_verified = fields.Boolean(
        dump_only=True,
        metadata={"description": "Whether the user followed a link mailed to `email`."},
    )
    created_at = UTCTime(dump_only=True)


class RegisterSchema(BodySchema):
    """The body of `POST /auth/register`."""

    email = email_field()
    password = Password(
        required=True,
        load_only=True,
        validate=password_policy,
        metadata={"example": "Correct-Horse-9", "format": "password"},
    )
    name = name_field()


class LoginSchema(BodySchema):
    """The body of `POST /auth/login`."""

    email = CleanString(required=True, metadata={"example": "ada@example.com"})
    password = Password(required=True, load_only=True, metadata={"format": "password"})


class TokenPairSchema(Schema):
    """The tokens a login or refresh returns."""

    access_token = fields.String(required=True)
    refresh_token = fields.String(required=True)
    token_type = fields.String(required=True, metadata={"example": "Bearer"})
    expires_in = fields.Integer(
        required=True, metadata={"description": "Lifetime of the access token in seconds."}
    )
