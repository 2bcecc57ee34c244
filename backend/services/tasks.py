"""Task queries and writes, always scoped to one user."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, literal, select, update

from backend.errors import Forbidden, ValidationFailed
from backend.extensions import db
from backend.models import Category, Status, Task, TaskCounter, fold, utcnow
from backend.schemas.fields import INT32_MAX, PRIORITY_RANKS
from backend.services.common import (
    CrudService,
    Page,
    commit_versioned,
    get_owned,
    paginate_rows,
)

DEFAULT_SORT = [("created_at", True)]
# Filters the task counters cannot answer: a list using one of them counts its matches.
UNCOUNTED_FILTERS = ("due_before", "due_after", "updated_after", "q")
SYNC_SORT = [("updated_at", False)]


def check_category(user_id: int, category_id: int | None, field: str = "category_id") -> None:
    """Accept null or one of the user's categories: 400 on `field` if missing, 403 if foreign."""
    if category_id is None:
        return
    if not 1 <= category_id <= INT32_MAX:
        raise ValidationFailed.on(field, f"Category {category_id} does not exist.")
    owner = db.session.scalar(select(Category.user_id).where(Category.id == category_id))
    if owner is None:
        raise ValidationFailed.on(field, f"Category {category_id} does not exist.")
    if owner != user_id:
        raise Forbidden(f"Category {category_id} belongs to another user.")


def escape_like(text: str) -> str:
    """Escape LIKE's wildcards (and the escape character) so that `text` matches literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def task_filters(user_id: int, query: Mapping[str, Any]) -> list[ColumnElement[bool]]:
    """Translate the list query's filters into SQL conditions."""
    conditions: list[ColumnElement[bool]] = [Task.user_id == user_id]
    if "status" in query:
        conditions.append(Task.status.in_(query["status"]))
    if "priority" in query:
        conditions.append(Task.priority.in_([PRIORITY_RANKS[name] for name in query["priority"]]))
    if "category_id" in query:
        category_id = query["category_id"]
        check_category(user_id, category_id)
        conditions.append(
            Task.category_id.is_(None) if category_id is None else Task.category_id == category_id
        )
    if "due_before" in query:
        conditions.append(Task.due_date <= query["due_before"])
    if "due_after" in query:
        conditions.append(Task.due_date >= query["due_after"])
    if "updated_after" in query:
        conditions.append(Task.updated_at > query["updated_after"])
    if query.get("q"):
        pattern = fold(literal(f"%{escape_like(query['q'])}%"))
        conditions.append(
            fold(Task.title).like(pattern, escape="\\")
            | fold(Task.description).like(pattern, escape="\\")
        )
    return conditions


def _ordering(sort: list[tuple[str, bool]]) -> list[Any]:
    """Return ORDER BY terms: the sort keys, null due dates last, then id as the tie-breaker."""
    columns = {
        "created_at": Task.created_at,
        "updated_at": Task.updated_at,
        "due_date": Task.due_date,
        "priority": Task.priority,
        "title": func.lower(Task.title),
    }
    terms: list[Any] = []
    for key, descending in sort:
        column = columns[key]
        term = column.desc() if descending else column.asc()
        terms.append(term.nulls_last() if key == "due_date" else term)
    terms.append(Task.id.desc() if sort[-1][1] else Task.id.asc())
    return terms


def list_tasks(user_id: int, query: Mapping[str, Any]) -> Page[Any]:
    """Return one page of the user's tasks (as rows) matching the query's filters, in its order."""
    default = SYNC_SORT if "updated_after" in query else DEFAULT_SORT
    statement = (
        select(*Task.__table__.columns)
        .where(*task_filters(user_id, query))
        .order_by(*_ordering(query.get("sort", default)))
    )
    return paginate_rows(statement, query["limit"], query["offset"], _counted_total(user_id, query))


def _counted_total(user_id: int, query: Mapping[str, Any]) -> Select[int] | None:
    """Return a query of the total from `task_counters`, when only counted filters are used.

    The counters (kept by triggers) split each user's tasks by status, priority and category,
    so these filters need a sum over a few rows instead of a count over all the user's tasks.
    """
    if any(query.get(name) is not None for name in UNCOUNTED_FILTERS):
        return None
    total = select(func.coalesce(func.sum(TaskCounter.n), 0)).where(TaskCounter.user_id == user_id)
    if "status" in query:
        total = total.where(TaskCounter.status.in_(query["status"]))
    if "priority" in query:
        total = total.where(
            TaskCounter.priority.in_([PRIORITY_RANKS[name] for name in query["priority"]])
        )
    if "category_id" in query:
        total = total.where(TaskCounter.category_id == (query["category_id"] or 0))
    return total


def get_task(user_id: int, task_id: int, *, for_update: bool = False) -> Task:
    """Return one of the user's tasks (404 or 403 otherwise)."""
    return get_owned(Task, user_id, task_id, for_update=for_update)


def apply_changes(task: Task, fields: Mapping[str, Any], now: datetime | None = None) -> None:
    """Set writable fields, keeping `completed_at` in step with `status` (done at `now`)."""
    if "category_id" in fields:
        check_category(task.user_id, fields["category_id"])
    was_done = task.status == Status.DONE
    for name, value in fields.items():
        setattr(task, name, value)
    is_done = task.status == Status.DONE
    if is_done and not was_done:
        task.completed_at = task.updated_at = now or utcnow()
    elif was_done and not is_done:
        task.completed_at = None


def create_task(user_id: int, fields: Mapping[str, Any]) -> Task:
    """Create a task for the user."""
    now = utcnow()
    task = Task(user_id=user_id, status=Status.TODO.value, created_at=now)
    apply_changes(task, fields, now)
    db.session.add(task)
    db.session.commit()
    return task


def update_task(task: Task, fields: Mapping[str, Any]) -> Task:
    """Write changes (all writable fields for PUT, some for PATCH) to a locked task."""
    apply_changes(task, fields)
    commit_versioned()
    return task


def delete_task(task: Task) -> None:
    """Delete a locked task."""
    db.session.delete(task)
    commit_versioned()


def detach_category_tasks(category_id: int) -> None:
    """Null the category of its tasks, moving their `updated_at` (and so their ETags)."""
    db.session.execute(
        update(Task)
        .where(Task.category_id == category_id)
        .values(category_id=None, updated_at=utcnow(), version=Task.version + 1)
    )


SERVICE = CrudService(
    list=list_tasks, get=get_task, create=create_task, update=update_task, delete=delete_task
)
