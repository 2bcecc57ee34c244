"""Schemas of the session and account routes."""

from __future__ import annotations

from marshmallow import fields

from backend.schemas.auth import name_field, new_password_field
from backend.schemas.common import BodySchema, ResponseSchema
from backend.schemas.fields import Password, UTCTime


class SessionSchema(ResponseSchema):
    """One open session (a login) of the current user."""

    id = fields.Integer(required=True, metadata={"example": 42})
    created_at = UTCTime(required=True)
    last_used_at = UTCTime(required=True, metadata={"description": "Login, or the last refresh."})
    current = fields.Boolean(
        required=True, metadata={"description": "Whether the request's token belongs to it."}
    )


class SessionListSchema(ResponseSchema):
    """The user's open sessions, most recently used first."""

    items = fields.List(fields.Nested(SessionSchema), required=True)


class ProfilePatchSchema(BodySchema):
    """The body of `PATCH /auth/me`."""

    name = name_field()


class PasswordChangeSchema(BodySchema):
    """The body of `POST /auth/password`."""

    current_password = Password(required=True, load_only=True, metadata={"format": "password"})
    new_password = new_password_field(example="Another-Horse-10")


class AccountDeleteSchema(BodySchema):
    """The body of `DELETE /auth/me`: the password confirms the deletion."""

    password = Password(required=True, load_only=True, metadata={"format": "password"})
