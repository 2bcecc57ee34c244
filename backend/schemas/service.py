"""Schemas of the service routes."""

from __future__ import annotations

from marshmallow import Schema, fields


class HealthSchema(Schema):
    """The health report."""

    status = fields.String(required=True, metadata={"example": "ok"})
    database = fields.String(required=True, metadata={"example": "ok"})
