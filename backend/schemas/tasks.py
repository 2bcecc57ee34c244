"""Schemas of the task routes: the task itself, its list query and its page."""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate

from backend.models import Status
from backend.schemas.common import (
    SEARCH,
    BodySchema,
    PageQuerySchema,
    PageSchema,
    QuerySchema,
    ResponseSchema,
    as_patch,
)
from backend.schemas.fields import (
    INT32_MAX,
    CleanString,
    CommaSeparated,
    PriorityField,
    StrictDate,
    StrictInteger,
    UTCTime,
)

STATUSES = [status.value for status in Status]
PRIORITIES = ["low", "medium", "high"]
SORT_KEYS = ("created_at", "updated_at", "due_date", "priority", "title")


class TaskSchema(ResponseSchema):
    """A task, as the API shows one."""

    id = fields.Integer(required=True, dump_only=True, metadata={"example": 17})
    title = fields.String(required=True, metadata={"example": "Write report"})
    description = fields.String(required=True, allow_none=True, metadata={"example": None})
    status = fields.String(required=True, metadata={"enum": STATUSES, "example": "todo"})
    priority = PriorityField(required=True, metadata={"example": "medium"})
    due_date = fields.Date(required=True, allow_none=True, metadata={"example": "2026-12-01"})
    category_id = fields.Integer(required=True, allow_none=True, metadata={"example": 3})
    created_at = UTCTime(required=True, dump_only=True)
    updated_at = UTCTime(required=True, dump_only=True)
    completed_at = UTCTime(required=True, dump_only=True, allow_none=True)


class TaskInputSchema(BodySchema):
    """The writable fields of a task (POST and PUT; omitted ones take their defaults)."""

    title = CleanString(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={"example": "Write report"},
    )
    description = CleanString(
        multiline=True,
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=10_000),
        metadata={"example": None},
    )
    status = CleanString(
        load_default=Status.TODO.value,
        validate=validate.OneOf(STATUSES),
        metadata={"enum": STATUSES, "example": "todo"},
    )
    priority = PriorityField(load_default=2, metadata={"example": "medium"})
    due_date = StrictDate(load_default=None, allow_none=True, metadata={"example": "2026-12-01"})
    category_id = StrictInteger(
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=1, max=INT32_MAX, error="Category {input} does not exist."),
        metadata={"example": 3},
    )


TaskPatchSchema = as_patch(TaskInputSchema, "TaskPatchSchema")


class TaskPageSchema(PageSchema):
    """A page of tasks."""

    items = fields.List(fields.Nested(TaskSchema), required=True)


def parse_sort(value: str) -> list[tuple[str, bool]]:
    """Parse `sort` into (key, descending) pairs; raise on unknown or repeated keys."""
    keys: list[tuple[str, bool]] = []
    for raw in value.split(","):
        item = raw.strip()
        descending = item.startswith("-")
        key = item.removeprefix("-")
        if key not in SORT_KEYS:
            raise ValidationError(
                f"Unknown sort key {item!r}: use {', '.join(SORT_KEYS)}, each optionally with '-'."
            )
        if any(seen == key for seen, _ in keys):
            raise ValidationError(f"Sort key {key!r} is given twice.")
        keys.append((key, descending))
    return keys


class SortField(fields.Field):
    """The `sort` parameter: comma-separated keys, `-` for descending."""

    def _deserialize(self, value: object, attr: str | None, data: object, **kwargs: object):
        """Parse the sort keys."""
        if not isinstance(value, str):
            raise ValidationError("Not a valid string.")
        return parse_sort(value)


class CategoryFilter(fields.Field):
    """The `category_id` filter: a category id, or `none` for uncategorized tasks."""

    def _deserialize(self, value: object, attr: str | None, data: object, **kwargs: object):
        """Return `None` for `none`, else the id."""
        if value == "none":
            return None
        if not isinstance(value, str) or not value.isdecimal() or not value.isascii():
            raise ValidationError("Must be a category id or 'none'.")
        number = int(value) if len(value) <= len(str(INT32_MAX)) else 0
        if not 1 <= number <= INT32_MAX:
            raise ValidationError("No such category.")
        return number


class TaskFilterSchema(QuerySchema):
    """The filters of `GET /tasks`, which `DELETE /tasks` takes too."""

    status = CommaSeparated(STATUSES, metadata={"description": "One status or a list: todo,done"})
    priority = CommaSeparated(PRIORITIES, metadata={"description": "One priority or a list."})
    category_id = CategoryFilter(
        metadata={"description": "A category id of yours, or `none` for uncategorized tasks."}
    )
    due_before = StrictDate(metadata={"description": "Due on or before this date."})
    due_after = StrictDate(metadata={"description": "Due on or after this date."})
    updated_after = UTCTime(metadata={"description": "Changed strictly after this time."})
    q = SEARCH


class TaskQuerySchema(TaskFilterSchema, PageQuerySchema):
    """The query string of `GET /tasks`: its filters, a page and a sort."""

    sort = SortField(
        metadata={
            "description": "Comma-separated keys of created_at, updated_at, due_date, priority, "
            "title; a leading - sorts descending. Default -created_at."
        }
    )
