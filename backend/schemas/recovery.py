"""Schemas of the account recovery and address verification routes."""

from __future__ import annotations

from marshmallow import fields, validate

from backend.schemas.auth import email_field, new_password_field
from backend.schemas.common import BodySchema, ResponseSchema
from backend.schemas.fields import CleanString


def token_field() -> CleanString:
    """Return the field of a mailed token (any wrong one is the same 400 on `token`)."""
    return CleanString(
        required=True,
        validate=validate.Length(max=512),
        metadata={"description": "The `token` of the mailed link.", "example": "Yq3…"},
    )


class PasswordResetRequestSchema(BodySchema):
    """The body of `POST /auth/password-reset`."""

    email = email_field()


class PasswordResetConfirmSchema(BodySchema):
    """The body of `POST /auth/password-reset/confirm`."""

    token = token_field()
    new_password = new_password_field(example="Another-Horse-10")


class EmailVerificationSchema(BodySchema):
    """The body of `POST /auth/verify-email`."""

    token = token_field()


class AcceptedSchema(ResponseSchema):
    """A request accepted for later work (a mail on its way, or none: the answer is the same)."""

    detail = fields.String(required=True)
