"""What every service shares: owned-resource lookup, pages, preconditions and the user lock.

A service takes plain values (ids, loaded fields, the `If-Match` header's value), does its
reads and writes on `db.session`, commits once, and returns rows or raises an `APIError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Mapped
from werkzeug.http import parse_etags

from backend.errors import Forbidden, NotFound, PreconditionFailed
from backend.extensions import db
from backend.models import MAX_ROW_ID, User


class Owned(Protocol):
    """A row that belongs to one user."""

    id: Mapped[int]
    user_id: Mapped[int]


OwnedT = TypeVar("OwnedT", bound=Owned)
ItemT = TypeVar("ItemT")


@dataclass(frozen=True)
class Page(Generic[ItemT]):
    """One page of a list, with the count of every match."""

    items: Sequence[ItemT]
    total: int
    limit: int
    offset: int


def get_owned(
    model: type[OwnedT], label: str, user_id: int, resource_id: int, *, for_update: bool = False
) -> OwnedT:
    """Load a user's row by id: 404 when it does not exist, 403 when it is someone else's.

    `label` names the resource in messages; `for_update` locks the row (PostgreSQL) for a write.
    """
    if not 1 <= resource_id <= MAX_ROW_ID:  # no row has it (and PostgreSQL would refuse it)
        raise NotFound(f"{label} {resource_id} was not found.")
    statement = select(model).where(model.id == resource_id)
    if for_update:
        statement = statement.with_for_update()
    resource = db.session.scalar(statement)
    if resource is None:
        raise NotFound(f"{label} {resource_id} was not found.")
    if resource.user_id != user_id:
        raise Forbidden(f"{label} {resource_id} belongs to another user.")
    return resource


def paginate(
    statement: Select[Any], limit: int, offset: int, count: Select[Any] | None = None
) -> Page[Any]:
    """Run an ordered list query for one page, with the total of every match.

    `count` is a cheaper query of the same total when the caller has one; else the matches
    are counted.
    """
    if count is None:
        count = statement.order_by(None).with_only_columns(func.count(), maintain_column_froms=True)
    total = db.session.scalar(count) or 0
    items = db.session.scalars(statement.limit(limit).offset(offset)).all()
    return Page(items, total, limit, offset)


def require_match(if_match: str | None, etag: str) -> None:
    """Raise 412, with the current `ETag`, when `If-Match` is given and does not name `etag`."""
    if if_match is None:
        return
    condition = parse_etags(if_match)
    if condition.star_tag or condition.contains(etag.strip('"')):
        return
    raise PreconditionFailed(headers={"ETag": etag})


def lock_user(user_id: int) -> None:
    """Lock the user's row (PostgreSQL) before writing any of their data.

    Every write transaction takes this lock first, so concurrent writes of one user take their
    locks (tasks, then the counters the triggers keep) in one order and cannot deadlock.
    """
    db.session.execute(select(User.id).where(User.id == user_id).with_for_update(key_share=True))
