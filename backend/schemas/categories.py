"""Schemas of the category routes."""

from __future__ import annotations

from marshmallow import fields, validate

from backend.schemas.common import BodySchema, PageSchema
from backend.schemas.fields import CleanString, UTCTime

COLOR_PATTERN = r"#[0-9A-Fa-f]{6}"


class CategorySchema(BodySchema):
    """A category: loads `name` and `color` (PATCH as partial) and dumps everything."""

    id = fields.Integer(dump_only=True, metadata={"example": 3})
    name = CleanString(
        required=True, validate=validate.Length(min=1, max=50), metadata={"example": "Work"}
    )
    color = CleanString(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(rf"^{COLOR_PATTERN}$", error="Must be a color as #RRGGBB."),
        metadata={"example": "#1E90FF", "pattern": f"^{COLOR_PATTERN}$"},
    )
    task_count = fields.Integer(dump_only=True, metadata={"example": 12})
    created_at = UTCTime(dump_only=True)
    updated_at = UTCTime(dump_only=True)


class CategoryPageSchema(PageSchema):
    """A page of categories."""

    items = fields.List(fields.Nested(CategorySchema), required=True)
