"""Schemas of the authentication routes: users, credentials, token pairs and sessions."""

from __future__ import annotations

import ipaddress
import unicodedata
from collections.abc import Mapping
from typing import Any

from email_validator import EmailNotValidError, validate_email
from marshmallow import ValidationError, fields, validate, validates_schema

from backend.passwords import local_part_error, policy_errors
from backend.schemas.common import BodySchema, ResponseSchema
from backend.schemas.fields import CleanString, Password, UTCTime

EMAIL_MAX = 254
LOCALHOST_MESSAGE = "Addresses at localhost are not accepted: use a public domain."
IP_ADDRESS_MESSAGE = (
    "Addresses at an IP address (such as [127.0.0.1]) are not accepted: use a public domain."
)


def password_policy(password: str) -> None:
    """Raise with every rule of the password policy that `password` breaks."""
    broken = policy_errors(password)
    if broken:
        raise ValidationError(broken)


def new_password_field(**metadata: str) -> Password:
    """Return the field of a password being set: capped in length first, then the policy."""
    return Password(
        required=True,
        load_only=True,
        new=True,
        validate=password_policy,
        metadata={"format": "password", **metadata},
    )


def refused_domain(address: str) -> str | None:
    """Return why the domain of `address` is refused: localhost, or an IP address."""
    local_part, at, domain_text = address.rpartition("@")
    if not (local_part and at):  # no address at all: email-validator says what is missing
        return None
    domain = unicodedata.normalize("NFKC", domain_text).casefold().rstrip(".")
    if domain == "localhost" or domain.endswith(".localhost"):
        return LOCALHOST_MESSAGE
    if domain.startswith("["):
        return IP_ADDRESS_MESSAGE
    try:
        ipaddress.ip_address(domain)
    except ValueError:
        return None
    return IP_ADDRESS_MESSAGE


def normalize_email(address: str) -> str:
    """Return the normal form of an address as `email-validator` writes it, lower-cased.

    Internationalized domains come out in one (Unicode) form, whichever form was typed.
    """
    refusal = refused_domain(address)
    if refusal is not None:
        raise ValidationError(refusal)
    try:
        result = validate_email(address, check_deliverability=False)
    except EmailNotValidError as error:
        raise ValidationError(str(error)) from None
    return result.normalized.lower()


class EmailAddress(CleanString):
    """An email address: trimmed, then normalized and lower-cased before the validators see it.

    Normalizing first means the length limit holds for the stored form, which can be longer
    (`"İ".lower()` is two characters). A `lenient` field (login) keeps an address that is not
    valid today trimmed and lower-cased, so that accounts made under older rules still log in.
    """

    def __init__(self, *, lenient: bool = False, **kwargs: Any) -> None:
        """Create the field; a `lenient` one never refuses an address, it only normalizes."""
        super().__init__(**kwargs)
        self.lenient = lenient

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        """Trim, check the characters, then normalize."""
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return normalize_email(text)
        except ValidationError:
            if self.lenient:
                return text.lower()
            raise


def email_field(**kwargs: object) -> EmailAddress:
    """Return the email field: a valid address, normalized, of at most 254 characters."""
    return EmailAddress(
        required=True,
        validate=validate.Length(max=EMAIL_MAX),
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


class UserSchema(ResponseSchema):
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
    password = new_password_field(example="Correct-Horse-9")
    name = name_field()

    @validates_schema(skip_on_field_errors=False, pass_original=True)
    def password_avoids_email(self, data: Mapping[str, Any], original: Any, **_kwargs: Any) -> None:
        """Refuse a password that contains the e-mail's local part, beside its other errors."""
        password = original.get("password") if isinstance(original, Mapping) else None
        if isinstance(password, str) and "email" in data:
            error = local_part_error(password, data["email"])
            if error:
                raise ValidationError([error], field_name="password")


class LoginSchema(BodySchema):
    """The body of `POST /auth/login`."""

    email = EmailAddress(lenient=True, required=True, metadata={"example": "ada@example.com"})
    password = Password(required=True, load_only=True, metadata={"format": "password"})


class TokenPairSchema(ResponseSchema):
    """The tokens a login or refresh returns."""

    access_token = fields.String(required=True)
    refresh_token = fields.String(required=True)
    token_type = fields.String(required=True, metadata={"example": "Bearer"})
    expires_in = fields.Integer(
        required=True, metadata={"description": "Lifetime of the access token in seconds."}
    )
