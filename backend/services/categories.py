"""Category queries and writes, always scoped to one user."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from backend.errors import Conflict
from backend.extensions import db
from backend.models import Category, fold_name
from backend.services.common import CrudService, Page, commit_versioned, get_owned, paginate
from backend.services.tasks import detach_category_tasks

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


def create_category(user_id: int, fields: Mapping[str, Any]) -> Category:
    """Create a category for the user."""
    category = Category(user_id=user_id, **fields)
    db.session.add(category)
    _commit_unique()
    return category


def update_category(category: Category, fields: Mapping[str, Any]) -> Category:
    """Write changes to a locked category."""
    for name, value in fields.items():
        setattr(category, name, value)
    _commit_unique()
    return category


def delete_category(category: Category) -> None:
    """Delete a locked category; its tasks stay, uncategorized, in the same transaction."""
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
