"""Schemas of the service routes."""

from __future__ import annotations

from marshmallow import fields

from backend.schemas.common import ResponseSchema


class HealthSchema(ResponseSchema):
    """The health report."""

    status = fields.String(required=True, metadata={"example": "ok"})
    database = fields.String(required=True, metadata={"example": "ok"})


class IndexSchema(ResponseSchema):
    """Where to start: the API's documentation, its OpenAPI document and its health."""

    name = fields.String(required=True, metadata={"example": "TaskTracker API"})
    docs = fields.String(required=True, metadata={"example": "/api/v1/docs"})
    openapi = fields.String(required=True, metadata={"example": "/api/v1/openapi.json"})
    health = fields.String(required=True, metadata={"example": "/api/v1/health"})
