"""What every service shares: owned-resource lookup, pages, and the commit that maps conflicts."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, cast

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Mapped
from sqlalchemy.orm.exc import StaleDataError

from backend.auth import Principal
from backend.database import execute
from backend.errors import Forbidden, NotFound, PreconditionFailed
from backend.extensions import db
from backend.schemas.fields import INT32_MAX


class Owned(Protocol):
    """A row that belongs to one user."""

    id: Mapped[int]
    user_id: Mapped[int]


OwnedT = TypeVar("OwnedT", bound=Owned)
ItemT = TypeVar("ItemT")
# Checks a resource's current state against the request's `If-Match` (raising 412); the service
# runs it where the write is atomic with what it checked.
Precondition = Callable[[Any], None]


@dataclass(frozen=True)
class Page(Generic[ItemT]):
    """One page of a list, with the count of every match."""

    items: Sequence[ItemT]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True)
class CrudService:
    """The functions behind a resource's six routes."""

    # Reads take the user's id; writes take the principal, whose session they may check.
    list: Callable[[int, Mapping[str, Any]], Page[Any]]
    get: Callable[[int, int], Any]
    create: Callable[[Principal, Mapping[str, Any]], Any]
    # (principal, resource id, fields, If-Match check or None) -> the resource as written
    update: Callable[[Principal, int, Mapping[str, Any], Precondition | None], Any]
    # (principal, resource id, If-Match check or None)
    delete: Callable[[Principal, int, Precondition | None], None]


def owned(resource: ItemT | None, kind: str, user_id: int, resource_id: int) -> ItemT:
    """Return a resource (object or row) looked up by id: 404 if there is none, 403 if foreign."""
    if resource is None:
        raise NotFound(f"{kind} {resource_id} was not found.")
    if cast(Owned, resource).user_id != user_id:
        raise Forbidden(f"{kind} {resource_id} belongs to another user.")
    return resource


def get_owned(
    model: type[OwnedT], user_id: int, resource_id: int, *, for_update: bool = False
) -> OwnedT:
    """Load a user's row by id: 404 when it does not exist, 403 when it is someone else's.

    `for_update` locks the row (PostgreSQL) so that a conditional write is atomic.
    """
    if not 1 <= resource_id <= INT32_MAX:
        raise NotFound(f"{model.__name__} {resource_id} was not found.")
    statement = select(model).where(model.id == resource_id)
    if for_update:
        statement = statement.with_for_update()
    return owned(db.session.scalar(statement), model.__name__, user_id, resource_id)


def paginate(
    statement: Select[ItemT], limit: int, offset: int, count: Select[int] | None = None
) -> Page[ItemT]:
    """Run an ordered list query for one page, with the total of every match.

    `count` is a cheaper query of the same total when the caller has one; else the matches
    are counted.
    """
    if count is None:
        count = statement.order_by(None).with_only_columns(func.count(), maintain_column_froms=True)
    total = db.session.scalar(count)
    items = db.session.scalars(statement.limit(limit).offset(offset)).all()
    return Page(items, total or 0, limit, offset)


def paginate_rows(
    statement: Select[Any], limit: int, offset: int, count: Select[int] | None = None
) -> Page[Any]:
    """Like `paginate`, for a Core query of columns: rows, not ORM objects, which cost less."""
    if count is None:
        count = statement.order_by(None).with_only_columns(func.count(), maintain_column_froms=True)
    total = execute(count).scalar_one()
    items = execute(statement.limit(limit).offset(offset)).all()
    return Page(items, total or 0, limit, offset)


def commit_versioned() -> None:
    """Commit; a row changed by a concurrent request since it was read answers 412."""
    try:
        db.session.commit()
    except StaleDataError:
        db.session.rollback()
        raise PreconditionFailed from None
