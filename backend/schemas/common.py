"""Schemas shared by every resource: base classes, pages, and the problem body."""

from __future__ import annotations

import copy

from marshmallow import EXCLUDE, RAISE, Schema, fields, missing, validate

from backend.schemas.fields import INT32_MAX, CleanString, QueryInteger


class ResponseSchema(Schema):
    """A response body; its document allows further properties: new fields are not breaking."""

    class Meta:
        """Not `RAISE`, which apispec documents as `additionalProperties: false`."""

        unknown = EXCLUDE


class BodySchema(Schema):
    """A request body: unknown fields are refused, so no field can be mass-assigned."""

    class Meta:
        """Refuse unknown fields."""

        unknown = RAISE


def as_patch(schema: type[BodySchema], name: str) -> type[BodySchema]:
    """Return the PATCH body of an input schema: the same fields, none required, no defaults.

    A field left out of a PATCH keeps its value, so nothing fills it in.
    """
    patch_fields: dict[str, fields.Field] = {}
    for field_name, field in schema._declared_fields.items():
        optional = copy.copy(field)
        optional.required = False
        optional.load_default = missing
        patch_fields[field_name] = optional
    return type(
        name, (BodySchema,), {"__doc__": f"The body of a PATCH: {schema.__doc__}", **patch_fields}
    )


class QuerySchema(Schema):
    """A query string: parameters the contract does not name are ignored."""

    class Meta:
        """Ignore unknown parameters."""

        unknown = EXCLUDE


class PageQuerySchema(QuerySchema):
    """`limit` and `offset`, as every list route takes them."""

    limit = QueryInteger(
        load_default=20,
        validate=validate.Range(min=1, max=100),
        metadata={"description": "Page size, 1-100."},
    )
    offset = QueryInteger(
        load_default=0,
        validate=validate.Range(min=0, max=INT32_MAX),
        metadata={"description": "How many matches to skip."},
    )


SEARCH = CleanString(
    allow_none=True,
    validate=validate.Length(max=200),
    metadata={"description": "Case-insensitive substring to search for."},
)


class SearchQuerySchema(PageQuerySchema):
    """A page that may also be narrowed by a case-insensitive substring `q`."""

    q = SEARCH


class PageSchema(ResponseSchema):
    """The envelope of a page of items; subclasses set `items`."""

    total = fields.Integer(required=True, metadata={"description": "Every match of the filters."})
    limit = fields.Integer(required=True)
    offset = fields.Integer(required=True)


class ProblemSchema(ResponseSchema):
    """An RFC 9457 problem details body, as every error is sent."""

    type = fields.String(required=True, metadata={"example": "about:blank"})
    title = fields.String(required=True, metadata={"example": "Bad Request"})
    status = fields.Integer(required=True, metadata={"example": 400})
    detail = fields.String(required=True, metadata={"example": "The request is invalid."})
    code = fields.String(required=True, metadata={"example": "validation_error"})
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "Each bad field or parameter with its messages."},
    )
