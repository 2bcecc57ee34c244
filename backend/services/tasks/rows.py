"""What task reads and writes share: the table, a task's representation, lookups by id."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, select

from backend.database import execute
from backend.errors import Forbidden, NotFound, ValidationFailed
from backend.models import Category, Task, User
from backend.schemas.fields import INT32_MAX
from backend.services.common import owned

TASKS = cast(Table, Task.__table__)
USERS = cast(Table, User.__table__)
# The columns of a task's representation (what the API shows), in the contract's order.
SHOWN = tuple(
    TASKS.c[name]
    for name in (
        "id",
        "title",
        "description",
        "status",
        "priority",
        "due_date",
        "category_id",
        "created_at",
        "updated_at",
        "completed_at",
    )
)
READ_TASK = select(*SHOWN, TASKS.c.user_id).where(TASKS.c.id == bindparam("task_id"))
CATEGORY_OWNER = select(cast(Table, Category.__table__).c.user_id).where(
    cast(Table, Category.__table__).c.id == bindparam("category_id")
)


def get_task(user_id: int, task_id: int) -> Row[Any]:
    """Return one of the user's tasks as a row (404 or 403 otherwise)."""
    if not 1 <= task_id <= INT32_MAX:
        raise NotFound(f"Task {task_id} was not found.")
    row = execute(READ_TASK, {"task_id": task_id}).one_or_none()
    return owned(row, "Task", user_id, task_id)


def check_category(user_id: int, category_id: int | None, field: str = "category_id") -> None:
    """Accept null or one of the user's categories: 400 on `field` if missing, 403 if foreign."""
    if category_id is None:
        return
    if not 1 <= category_id <= INT32_MAX:
        raise ValidationFailed.on(field, f"Category {category_id} does not exist.")
    owner = execute(CATEGORY_OWNER, {"category_id": category_id}).scalar()
    if owner is None:
        raise ValidationFailed.on(field, f"Category {category_id} does not exist.")
    if owner != user_id:
        raise Forbidden(f"Category {category_id} belongs to another user.")
