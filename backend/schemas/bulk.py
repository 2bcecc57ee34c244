"""Schemas of the bulk task routes."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from backend.schemas.common import BodySchema
from backend.schemas.fields import INT32_MAX, StrictInteger
from backend.schemas.tasks import TaskSchema


class PartialNested(fields.Nested):
    """A nested object loaded as a partial update (only the fields given)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, partial: Any = None, **kwargs):
        """Load the nested object with `partial=True`, whatever the outer load asked."""
        return super()._deserialize(value, attr, data, partial=True, **kwargs)


class BulkPatchSchema(BodySchema):
    """The body of `PATCH /tasks`: which tasks, and the changes to apply to each."""

    ids = fields.List(
        StrictInteger(validate=validate.Range(min=1, max=INT32_MAX)),
        required=True,
        validate=validate.Length(min=1, max=100),
        metadata={"description": "1-100 ids of your tasks.", "example": [17, 18]},
    )
    changes = PartialNested(
        TaskSchema,
        required=True,
        metadata={"description": "The fields to change, as in PATCH /tasks/{id}."},
    )


class BulkUpdatedSchema(Schema):
    """How many tasks a bulk change updated."""

    updated = fields.Integer(required=True, metadata={"example": 2})


class BulkDeletedSchema(Schema):
    """How many tasks a bulk delete removed."""

    deleted = fields.Integer(required=True, metadata={"example": 5})
