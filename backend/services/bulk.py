"""Bulk task changes: all-or-nothing updates of many tasks, and filtered deletes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, select

from backend.errors import Forbidden, ValidationFailed
from backend.extensions import db
from backend.models import Task, utcnow
from backend.services.common import lock_user
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


def update_tasks(user_id: int, ids: Sequence[int], changes: Mapping[str, Any]) -> list[Task]:
    """Apply `changes` to every task in `ids`; a missing or foreign id changes nothing.

    Return the tasks as they now are, in the order of `ids`.
    """
    lock_user(user_id)
    wanted = list(dict.fromkeys(ids))
    found = {
        task.id: task
        for task in db.session.scalars(
            select(Task).where(Task.id.in_(wanted)).order_by(Task.id).with_for_update()
        )
    }
    missing = [task_id for task_id in wanted if task_id not in found]
    if missing:
        raise ValidationFailed.on("ids", f"No task with id {', '.join(map(str, missing))}.")
    foreign = [task_id for task_id in wanted if found[task_id].user_id != user_id]
    if foreign:
        raise Forbidden(f"Task {foreign[0]} belongs to another user.")
    check_category(user_id, changes.get("category_id"), field="changes.category_id")
    now = utcnow()
    for task_id in wanted:
        apply_changes(found[task_id], changes, now)
    db.session.commit()
    return [found[task_id] for task_id in wanted]


def delete_tasks(user_id: int, query: Mapping[str, Any]) -> int:
    """Delete the user's tasks matching the filters; at least one filter is required."""
    # A blank `q` loads as None and filters nothing: it must not count as a filter.
    if not any(name in query and (name != "q" or query[name]) for name in FILTER_PARAMETERS):
        raise ValidationFailed(
            "Give at least one filter (for example status=done): deleting every task "
            "at once is not allowed.",
            errors={"status": ["A filter is required, e.g. status=done."]},
        )
    lock_user(user_id)
    result = db.session.execute(
        delete(Task)
        .where(*task_filters(user_id, query))
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount  # type: ignore[attr-defined]
