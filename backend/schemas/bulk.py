"""Schemas of the bulk task routes."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate

from backend.schemas.common import BodySchema, ResponseSchema
from backend.schemas.fields import INT32_MAX, StrictInteger
from backend.schemas.tasks import TaskPatchSchema, TaskSchema


class IdList(fields.List):
    """A list of ids whose item errors are reported on the list itself (`ids`, not `ids.0`)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[Any]:
        """Load the list, turning `{index: [messages]}` into `["Item index: message"]`."""
        try:
            return super()._deserialize(value, attr, data, **kwargs)
        except ValidationError as error:
            messages = error.messages
            if not isinstance(messages, dict):
                raise
            raise ValidationError(
                [
                    f"Item {index}: {message}"
                    for index, item_messages in messages.items()
                    for message in item_messages
                ]
            ) from None


class ChangesField(fields.Nested):
    """The `changes` of a bulk PATCH: a JSON object of task fields."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Any, partial: Any = None, **kwargs: Any
    ) -> Any:
        """Refuse anything but an object with one plain message."""
        if not isinstance(value, dict):
            raise ValidationError("Must be a JSON object of the fields to change.")
        return super()._deserialize(value, attr, data, partial=partial, **kwargs)


class BulkPatchSchema(BodySchema):
    """The body of `PATCH /tasks`: which tasks, and the changes to apply to each."""

    ids = IdList(
        StrictInteger(validate=validate.Range(min=1, max=INT32_MAX)),
        required=True,
        validate=validate.Length(min=1, max=100),
        metadata={"description": "1-100 ids of your tasks.", "example": [17, 18]},
    )
    changes = ChangesField(
        TaskPatchSchema,
        required=True,
        metadata={"description": "The fields to change, as in PATCH /tasks/{id}."},
    )


class BulkUpdatedSchema(ResponseSchema):
    """How many tasks a bulk change updated."""

    updated = fields.Integer(required=True, metadata={"example": 2})
    items = fields.List(
        fields.Nested(TaskSchema),
        required=True,
        metadata={"description": "The tasks as they now are, in the order of `ids`."},
    )


class BulkDeletedSchema(ResponseSchema):
    """How many tasks a bulk delete removed."""

    deleted = fields.Integer(required=True, metadata={"example": 5})
