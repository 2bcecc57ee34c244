"""Task queries and writes, always scoped to one user; each write is one transaction."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from backend.errors import Forbidden, PreconditionFailed, ValidationFailed
from backend.extensions import db
from backend.models import Category, Status, Task, TaskCounter, fold, utcnow
from backend.schemas.fields import PRIORITY_RANKS
from backend.services.common import Page, get_owned, lock_user, paginate, require_match

DEFAULT_SORT = [("created_at", True)]
SYNC_SORT = [("updated_at", False)]
# Filters the task counters cannot answer: a list using one of them counts its matches.
UNCOUNTED_FILTERS = ("due_before", "due_after", "updated_after", "q")
LABEL = "Task"


def escape_like(text: str) -> str:
    """Escape LIKE's wildcards (and the escape character) so that `text` matches literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def check_category(user_id: int, category_id: int | None, field: str = "category_id") -> None:
    """Accept null or one of the user's categories: 400 on `field` if missing, 403 if foreign."""
    if category_id is None:
        return
    owner = db.session.scalar(select(Category.user_id).where(Category.id == category_id))
    if owner is None:
        raise ValidationFailed.on(field, f"Category {category_id} does not exist.")
    if owner != user_id:
        raise Forbidden(f"Category {category_id} belongs to another user.")


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


def _counted_total(user_id: int, query: Mapping[str, Any]) -> Select[Any] | None:
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


def list_tasks(user_id: int, query: Mapping[str, Any]) -> Page[Task]:
    """Return one page of the user's tasks matching the query's filters, in its order."""
    default = SYNC_SORT if "updated_after" in query else DEFAULT_SORT
    statement = (
        select(Task)
        .where(*task_filters(user_id, query))
        .order_by(*_ordering(query.get("sort", default)))
    )
    return paginate(statement, query["limit"], query["offset"], _counted_total(user_id, query))


def get_task(user_id: int, task_id: int) -> Task:
    """Return one of the user's tasks (404 or 403 otherwise)."""
    return get_owned(Task, LABEL, user_id, task_id)


def apply_changes(task: Task, fields: Mapping[str, Any], now: datetime) -> None:
    """Set the given fields, as of `now`; a write that changes nothing leaves the task as it is.

    `completed_at` follows `status`: set when it becomes done, cleared when it leaves done.
    """
    for name, value in fields.items():
        setattr(task, name, value)
    if task.status != Status.DONE:
        task.completed_at = None
    elif task.completed_at is None:
        task.completed_at = now
    if task.id is not None and db.session.is_modified(task):
        task.updated_at = now


def _commit(user_id: int, fields: Mapping[str, Any]) -> None:
    """Commit a task write: a category deleted meanwhile is the field's 400, a lost race 412."""
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        check_category(user_id, fields.get("category_id"))
        raise
    except StaleDataError:
        db.session.rollback()
        raise PreconditionFailed from None


def create_task(user_id: int, fields: Mapping[str, Any]) -> Task:
    """Create a task for the user."""
    lock_user(user_id)
    check_category(user_id, fields["category_id"])
    now = utcnow()
    task = Task(user_id=user_id, created_at=now)
    apply_changes(task, fields, now)
    db.session.add(task)
    _commit(user_id, fields)
    return task


def update_task(
    user_id: int, task_id: int, fields: Mapping[str, Any], if_match: str | None = None
) -> Task:
    """Change some fields of a task (PUT gives them all), if `If-Match` allows."""
    lock_user(user_id)
    task = get_owned(Task, LABEL, user_id, task_id, for_update=True)
    require_match(if_match, task.etag)
    if fields.get("category_id") not in (None, task.category_id):
        check_category(user_id, fields["category_id"])
    apply_changes(task, fields, utcnow())
    _commit(user_id, fields)
    return task


def delete_task(user_id: int, task_id: int, if_match: str | None = None) -> None:
    """Delete one of the user's tasks, if `If-Match` allows."""
    lock_user(user_id)
    task = get_owned(Task, LABEL, user_id, task_id, for_update=True)
    require_match(if_match, task.etag)
    db.session.delete(task)
    _commit(user_id, {})


def detach_category_tasks(category_id: int) -> None:
    """Null the category of its tasks, moving their `updated_at` and version (so their ETags)."""
    db.session.execute(
        update(Task)
        .where(Task.category_id == category_id)
        .values(category_id=None, updated_at=utcnow(), version=Task.version + 1)
        .execution_options(synchronize_session=False)
    )
