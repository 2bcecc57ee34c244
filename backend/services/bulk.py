"""Bulk task changes: all-or-nothing updates of many tasks, and filtered deletes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, select, update

from backend.database import execute
from backend.errors import Forbidden, ValidationFailed
from backend.extensions import db
from backend.models import Task, utcnow
from backend.services.tasks.listing import task_filters
from backend.services.tasks.rows import TASKS, check_category
from backend.services.tasks.writes import differs, parameters, set_clause

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
    """Apply `changes` to every task in `ids` at once; a missing or foreign id changes nothing.

    The tasks are locked in id order (after the user's row, in the session check), then
    written by one statement.
    """
    wanted = list(dict.fromkeys(ids))
    rows = execute(
        select(TASKS.c.id, TASKS.c.user_id)
        .where(TASKS.c.id.in_(wanted))
        .order_by(TASKS.c.id)
        .with_for_update()
    ).all()
    found = {row.id for row in rows}
    missing = [task_id for task_id in wanted if task_id not in found]
    if missing:
        listed = ", ".join(map(str, missing))
        raise ValidationFailed.on("ids", f"No task with id {listed}.")
    foreign = [row.id for row in rows if row.user_id != user_id]
    if foreign:
        raise Forbidden(f"Task {foreign[0]} belongs to another user.")
    if "category_id" in changes:  # reported on the body's own field name
        check_category(user_id, changes["category_id"], field="changes.category_id")
    if changes:
        names = tuple(sorted(changes))
        execute(
            update(TASKS)
            .where(TASKS.c.id.in_(wanted), differs(names))
            .values(set_clause(names, changes.get("status"))),
            {**parameters(changes), "now": utcnow()},
        )
    db.session.commit()
    return len(rows)


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
