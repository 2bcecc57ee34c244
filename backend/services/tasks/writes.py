"""Task writes: each is one statement that checks the session, locks the user, writes the task.

A task route runs in autocommit (`Endpoint.autocommit`), and its write is one statement that
selects its user through `backend.auth.LIVE_USER`: it writes only if the request's session is
live, and locks the user's row before any task row, as every write of a user's data does — so
concurrent writes of one user take their locks in one order and cannot deadlock, and the lock
is held only while the statement runs. A write request costs one round trip; when nothing is
written, the endpoint checks the session itself before answering (`confirm_session`).

The statements are built once per shape, with bound parameters: SQLAlchemy then reuses their
cache keys and compiled SQL, and psycopg prepares them on each connection.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Executable,
    Row,
    bindparam,
    delete,
    func,
    insert,
    literal,
    or_,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.dml import ReturningDelete, ReturningUpdate

from backend.auth import LIVE_USER, Principal, session_confirmed, session_parameters
from backend.database import commit, execute, rollback
from backend.errors import NotFound, PreconditionFailed, Unauthorized
from backend.models import Status, utcnow
from backend.schemas.fields import INT32_MAX
from backend.services.common import Precondition
from backend.services.tasks.rows import SHOWN, TASKS, check_category, get_task

WRITABLE = ("title", "description", "status", "priority", "due_date", "category_id")
CREATE = (
    insert(TASKS)
    .from_select(
        ["user_id", *WRITABLE, "completed_at", "created_at", "updated_at", "version"],
        LIVE_USER.add_columns(
            *(bindparam(f"new_{name}", type_=TASKS.c[name].type) for name in WRITABLE),
            bindparam("done_at", type_=TASKS.c.completed_at.type),
            bindparam("now", type_=TASKS.c.created_at.type),
            bindparam("now", type_=TASKS.c.created_at.type),
            literal(1),
        ),
    )
    .returning(*SHOWN)
)
OWN_TASK = (
    TASKS.c.id == bindparam("target_id"),
    TASKS.c.user_id == LIVE_USER.scalar_subquery(),
)
# With an `If-Match`, a write only lands on the representation that was checked.
AS_CHECKED = tuple(
    column.is_not_distinct_from(bindparam(f"was_{column.name}", type_=column.type))
    for column in SHOWN
)


def set_clause(names: tuple[str, ...], status: str | None) -> dict[str, Any]:
    """Return the SET clause writing the fields `names` from `parameters`' bound values.

    `completed_at` follows `status`: set (to `now`, like `updated_at`) when it becomes `done`,
    kept while it stays `done`, cleared when it leaves `done`.
    """
    values: dict[str, Any] = {
        name: bindparam(f"new_{name}", type_=TASKS.c[name].type) for name in names
    }
    values["updated_at"] = bindparam("now", type_=TASKS.c.updated_at.type)
    values["version"] = TASKS.c.version + 1
    if status is not None:
        done = status == Status.DONE
        values["completed_at"] = (
            func.coalesce(TASKS.c.completed_at, values["updated_at"]) if done else None
        )
    return values


def differs(names: tuple[str, ...]) -> ColumnElement[bool]:
    """Return a condition true for rows that the fields `names` would change (no-op: no write)."""
    return or_(
        *(
            TASKS.c[name].is_distinct_from(bindparam(f"new_{name}", type_=TASKS.c[name].type))
            for name in names
        )
    )


def parameters(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Return the bound values of a write of `fields` (`now` is the caller's)."""
    return {f"new_{name}": value for name, value in fields.items()}


@lru_cache(maxsize=256)
def _update(names: tuple[str, ...], status: str | None, checked: bool) -> ReturningUpdate[Any]:
    """Return the UPDATE of one of the user's tasks writing the fields `names`."""
    conditions = (*OWN_TASK, *(AS_CHECKED if checked else ()), differs(names))
    return update(TASKS).where(*conditions).values(set_clause(names, status)).returning(*SHOWN)


@lru_cache(maxsize=2)
def _delete(checked: bool) -> ReturningDelete[Any]:
    """Return the DELETE of one of the user's tasks."""
    conditions = (*OWN_TASK, *(AS_CHECKED if checked else ()))
    return delete(TASKS).where(*conditions).returning(TASKS.c.id)


def _write(
    statement: Executable, values: Mapping[str, Any], principal: Principal, category: Any
) -> Row[Any] | None:
    """Run one guarded write statement returning a task; commit if it wrote (a no-op in autocommit).

    A category deleted between its check and the write fails the foreign key: that is the
    check's 400 again, not a conflict.
    """
    try:
        row = execute(statement, values).one_or_none()
    except IntegrityError:
        rollback()
        check_category(principal.user_id, category)
        raise
    if row is not None:
        session_confirmed()
        commit()
    return row


def create_task(principal: Principal, fields: Mapping[str, Any]) -> Row[Any]:
    """Create a task for the user with one statement (401 if the session is not live)."""
    check_category(principal.user_id, fields["category_id"])
    values = {**session_parameters(principal), **parameters(fields)}
    values["done_at"] = values["now"] if fields["status"] == Status.DONE else None
    row = _write(CREATE, values, principal, fields["category_id"])
    if row is None:
        raise Unauthorized("The token's session has been revoked.", code="token_revoked")
    return row


def _target(
    principal: Principal, task_id: int, check: Precondition | None
) -> dict[str, Any] | None:
    """Return the bound values of `AS_CHECKED` for a write of one task, or None without `check`.

    With `check` (an `If-Match`), the task is read and checked first; the write is then limited
    to the representation that was checked, so a task changed in between is not written, and
    no lock is held between the two statements.
    """
    if not 1 <= task_id <= INT32_MAX:
        raise NotFound(f"Task {task_id} was not found.")
    if check is None:
        return None
    checked = get_task(principal.user_id, task_id)
    check(checked)
    return _as_checked(checked)


def _as_checked(row: Row[Any]) -> dict[str, Any]:
    """Return the bound values of `AS_CHECKED` for a task's row."""
    return {f"was_{column.name}": value for column, value in zip(SHOWN, row, strict=False)}


def update_task(
    principal: Principal, task_id: int, fields: Mapping[str, Any], check: Precondition | None = None
) -> Row[Any]:
    """Write changes (all writable fields for PUT, some for PATCH) with one statement."""
    user_id = principal.user_id
    checked = _target(principal, task_id, check)
    if fields.get("category_id") is not None:
        if checked is None:
            get_task(user_id, task_id)  # the task's 404 or 403 comes before the category's
        check_category(user_id, fields["category_id"])
    if fields:
        statement = _update(tuple(sorted(fields)), fields.get("status"), checked is not None)
        values = {**session_parameters(principal), **parameters(fields), "target_id": task_id}
        row = _write(statement, {**values, **(checked or {})}, principal, fields.get("category_id"))
        if row is not None:
            return row
    # Nothing was written: the session is not live (401, see `confirm_session`), the task is
    # missing (404), someone else's (403), changed since the check (412), or already as asked.
    current = get_task(user_id, task_id)
    if checked is not None and _as_checked(current) != checked:
        raise PreconditionFailed
    return current


def delete_task(principal: Principal, task_id: int, check: Precondition | None = None) -> None:
    """Delete one of the user's tasks with one statement; with `check`, only as checked."""
    checked = _target(principal, task_id, check)
    values = {**session_parameters(principal), "target_id": task_id, **(checked or {})}
    if execute(_delete(checked is not None), values).first() is None:
        get_task(principal.user_id, task_id)  # 404 or 403 (or the session's 401: the endpoint)
        raise PreconditionFailed  # it is there and the user's: it changed since the check
    session_confirmed()
    commit()


def detach_category_tasks(category_id: int) -> None:
    """Null the category of its tasks, moving their `updated_at` (and so their ETags)."""
    execute(
        update(TASKS)
        .where(TASKS.c.category_id == category_id)
        .values(category_id=None, updated_at=utcnow(), version=TASKS.c.version + 1)
    )
