"""Category queries and writes, always scoped to one user."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from backend.auth import Principal
from backend.errors import Conflict
from backend.extensions import db
from backend.models import Category, fold_name
from backend.services.common import (
    CrudService,
    Page,
    Precondition,
    commit_versioned,
    get_owned,
    paginate,
)
from backend.services.tasks.writes import detach_category_tasks

NAME_TAKEN = "You already have a category with this name (names ignore case)."


def list_categories(user_id: int, query: Mapping[str, Any]) -> Page[Category]:
    """Return one page of the user's categories, sorted by name."""
    statement = select(Category).where(Category.user_id == user_id)
    if query.get("q"):
        text = fold_name(query["q"])
        statement = statement.where(Category.name_key.contains(text, autoescape=True))
    statement = statement.order_by(Category.name_key, Category.id)
    return paginate(statement, query["limit"], query["offset"])


def get_category(user_id: int, category_id: int, *, for_update: bool = False) -> Category:
    """Return one of the user's categories (404 or 403 otherwise)."""
    return get_owned(Category, user_id, category_id, for_update=for_update)


def _commit_unique() -> None:
    """Commit; a duplicate name is 409 `category_exists`."""
    try:
        commit_versioned()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(NAME_TAKEN, code="category_exists") from None


def create_category(principal: Principal, fields: Mapping[str, Any]) -> Category:
    """Create a category for the user."""
    category = Category(user_id=principal.user_id, **fields)
    db.session.add(category)
    _commit_unique()
    return category


def _locked(user_id: int, category_id: int, check: Precondition | None) -> Category:
    """Lock one of the user's categories for a write, and run the `If-Match` check on it."""
    category = get_category(user_id, category_id, for_update=True)
    if check is not None:
        check(category)
    return category


def update_category(
    principal: Principal,
    category_id: int,
    fields: Mapping[str, Any],
    check: Precondition | None = None,
) -> Category:
    """Write changes to one of the user's categories, locked."""
    category = _locked(principal.user_id, category_id, check)
    for name, value in fields.items():
        setattr(category, name, value)
    _commit_unique()
    return category


def delete_category(
    principal: Principal, category_id: int, check: Precondition | None = None
) -> None:
    """Delete one of the user's categories; its tasks stay, uncategorized, in one transaction."""
    category = _locked(principal.user_id, category_id, check)
    detach_category_tasks(category.id)
    db.session.delete(category)
    commit_versioned()


SERVICE = CrudService(
    list=list_categories,
    get=get_category,
    create=create_category,
    update=update_category,
    delete=delete_category,
)
