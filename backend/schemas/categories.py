"""Schemas of the category routes."""

from __future__ import annotations

from marshmallow import fields, validate

from backend.schemas.common import BodySchema, PageSchema, ResponseSchema, as_patch
from backend.schemas.fields import CleanString, UTCTime

COLOR_PATTERN = r"#[0-9A-Fa-f]{6}"


class CategorySchema(ResponseSchema):
    """A category, as the API shows one."""

    id = fields.Integer(required=True, dump_only=True, metadata={"example": 3})
    name = fields.String(required=True, metadata={"example": "Work"})
    color = fields.String(required=True, allow_none=True, metadata={"example": "#1E90FF"})
    task_count = fields.Integer(required=True, dump_only=True, metadata={"example": 12})
    created_at = UTCTime(required=True, dump_only=True)
    updated_at = UTCTime(required=True, dump_only=True)


class CategoryInputSchema(BodySchema):
    """The writable fields of a category (POST and PUT)."""

    name = CleanString(
        required=True, validate=validate.Length(min=1, max=50), metadata={"example": "Work"}
    )
    color = CleanString(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(rf"^{COLOR_PATTERN}$", error="Must be a color as #RRGGBB."),
        metadata={"example": "#1E90FF", "pattern": f"^{COLOR_PATTERN}$"},
    )


CategoryPatchSchema = as_patch(CategoryInputSchema, "CategoryPatchSchema")


class CategoryPageSchema(PageSchema):
    """A page of categories."""

    items = fields.List(fields.Nested(CategorySchema), required=True)
