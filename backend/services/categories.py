"""Category queries and writes, always scoped to one user; each write is one transaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from backend.errors import Conflict, PreconditionFailed
from backend.extensions import db
from backend.models import Category, fold_name
from backend.services.common import Page, get_owned, lock_user, paginate, require_match
from backend.services.tasks import detach_category_tasks

NAME_TAKEN = "You already have a category with this name (names ignore case)."
LABEL = "Category"


def list_categories(user_id: int, query: Mapping[str, Any]) -> Page[Category]:
    """Return one page of the user's categories, sorted by name."""
    statement = select(Category).where(Category.user_id == user_id)
    if query.get("q"):
        statement = statement.where(
            Category.name_key.contains(fold_name(query["q"]), autoescape=True)
        )
    statement = statement.order_by(Category.name_key, Category.id)
    return paginate(statement, query["limit"], query["offset"])


def get_category(user_id: int, category_id: int) -> Category:
    """Return one of the user's categories (404 or 403 otherwise)."""
    return get_owned(Category, LABEL, user_id, category_id)


def _commit() -> None:
    """Commit a category write: a duplicate name is 409 `category_exists`, a lost race 412."""
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(NAME_TAKEN, code="category_exists") from None
    except StaleDataError:
        db.session.rollback()
        raise PreconditionFailed from None


def create_category(user_id: int, fields: Mapping[str, Any]) -> Category:
    """Create a category for the user."""
    lock_user(user_id)
    category = Category(user_id=user_id, **fields)
    db.session.add(category)
    _commit()
    return category


def _locked(user_id: int, category_id: int, if_match: str | None) -> Category:
    """Lock one of the user's categories for a write, after checking `If-Match` against it."""
    lock_user(user_id)
    category = get_owned(Category, LABEL, user_id, category_id, for_update=True)
    require_match(if_match, category.etag)
    return category


def update_category(
    user_id: int, category_id: int, fields: Mapping[str, Any], if_match: str | None = None
) -> Category:
    """Change some fields of a category (PUT gives them all), if `If-Match` allows."""
    category = _locked(user_id, category_id, if_match)
    for name, value in fields.items():
        setattr(category, name, value)
    _commit()
    return category


def delete_category(user_id: int, category_id: int, if_match: str | None = None) -> None:
    """Delete a category; its tasks stay, uncategorized, in the same transaction."""
    category = _locked(user_id, category_id, if_match)
    detach_category_tasks(category.id)
    db.session.delete(category)
    _commit()
