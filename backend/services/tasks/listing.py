"""Listing a user's tasks: filters, sorts, pages and their totals."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, Select, func, literal, select

from backend.models import Task, TaskCounter, fold
from backend.schemas.fields import PRIORITY_RANKS
from backend.services.common import Page, paginate_rows
from backend.services.tasks.rows import check_category

DEFAULT_SORT = [("created_at", True)]
# Filters the task counters cannot answer: a list using one of them counts its matches.
UNCOUNTED_FILTERS = ("due_before", "due_after", "updated_after", "q")
SYNC_SORT = [("updated_at", False)]


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
