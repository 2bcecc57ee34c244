"""Bulk task changes: all-or-nothing updates of many tasks, and filtered deletes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, select

from backend.errors import Forbidden, ValidationFailed
from backend.extensions import db
from backend.models import Task, utcnow
from backend.services.common import commit_versioned
from backend.services.tasks import apply_changes, check_category, task_filters

FILTER_PARAMETERS = (
    "status",
    "priority",
    "category_id",
    "due_before",
    "due_after",
    "q",
    "updated_after",
)


def update_tasks(user_id: int, ids: Sequence[int], changes: Mapping[str, Any]) -> int:
    """Apply `changes` to every task in `ids` at once; a missing or foreign id changes nothing."""
    wanted = list(dict.fromkeys(ids))
    tasks = db.session.scalars(
        select(Task).where(Task.id.in_(wanted)).order_by(Task.id).with_for_update()
    ).all()
    found = {task.id for task in tasks}
    missing = [task_id for task_id in wanted if task_id not in found]
    if missing:
        listed = ", ".join(map(str, missing))
        raise ValidationFailed.on("ids", f"No task with id {listed}.")
    foreign = [task.id for task in tasks if task.user_id != user_id]
    if foreign:
        raise Forbidden(f"Task {foreign[0]} belongs to another user.")
    # The category is checked once, and reported on the body's own field name.
    fields = dict(changes)
    categorize = "category_id" in fields
    category_id = fields.pop("category_id", None)
    if categorize:
        check_category(user_id, category_id, field="changes.category_id")
    now = utcnow()
    for task in tasks:
        if categorize:
            task.category_id = category_id
        apply_changes(task, fields, now)
    commit_versioned()
    return len(tasks)


def delete_tasks(user_id: int, query: Mapping[str, Any]) -> int:
    """Delete the user's tasks matching the filters; at least one filter is required."""
    # A blank `q` loads as None and filters nothing: it must not count as a filter.
    if not any(name in query and (name != "q" or query[name]) for name in FILTER_PARAMETERS):
        raise ValidationFailed(
            "Give at least one filter (for example status=done): deleting every task "
            "at once is not allowed.",
            errors={"status": ["A filter is required, e.g. status=done."]},
        )
    result = db.session.execute(delete(Task).where(*task_filters(user_id, query)))
    db.session.commit()
    return result.rowcount  # type: ignore[attr-defined]
