"""Category routes: list, create, read, replace, change and delete categories."""

from __future__ import annotations

from typing import Any

from flask import request, url_for
from flask_jwt_extended import jwt_required

from backend.auth import current_user_id
from backend.docs import header_refs
from backend.http import Blueprint, page_links
from backend.models import Category
from backend.routes.idempotency import idempotent
from backend.schemas.categories import (
    CategoryInputSchema,
    CategoryPageSchema,
    CategoryPatchSchema,
    CategorySchema,
)
from backend.schemas.common import SearchQuerySchema
from backend.services import categories
from backend.services.common import Page

bp = Blueprint("categories", __name__, description="Your categories for tasks.")
ITEM = "/categories/<id:category_id>"


@bp.get("/categories")
@jwt_required()
@bp.arguments(SearchQuerySchema, location="query")
@bp.response(200, CategoryPageSchema, headers=header_refs("Link"))
@bp.problems(401)
def list_categories(query: dict[str, Any]) -> tuple[Page[Category], dict[str, str]]:
    """List your categories."""
    page = categories.list_categories(current_user_id(), query)
    return page, {"Link": page_links(page.total, page.limit, page.offset)}


@bp.post("/categories")
@jwt_required()
@idempotent
@bp.arguments(CategoryInputSchema)
@bp.response(201, CategorySchema, headers=header_refs("Location", "ETag", "Idempotent-Replayed"))
@bp.problems(401, 409, 413, 415, 422)
@bp.headers("IdempotencyKey")
def create_category(body: dict[str, Any]) -> tuple[Category, dict[str, str]]:
    """Create a category."""
    category = categories.create_category(current_user_id(), body)
    location = url_for(".get_category", category_id=category.id)
    return category, {"Location": location, "ETag": category.etag}


@bp.get(ITEM)
@jwt_required()
@bp.response(200, CategorySchema, headers=header_refs("ETag"))
@bp.alt_response(304, response="NOT_MODIFIED")
@bp.problems(401, 403, 404)
@bp.headers("IfNoneMatch")
def get_category(category_id: int) -> tuple[Category, dict[str, str]]:
    """Get a category."""
    category = categories.get_category(current_user_id(), category_id)
    return category, {"ETag": category.etag}


@bp.put(ITEM)
@jwt_required()
@bp.arguments(CategoryInputSchema)
@bp.response(200, CategorySchema, headers=header_refs("ETag"))
@bp.problems(401, 403, 404, 409, 412, 413, 415)
@bp.headers("IfMatch")
@bp.doc(description="Every writable field is replaced; omitted ones return to their defaults.")
def replace_category(body: dict[str, Any], category_id: int) -> tuple[Category, dict[str, str]]:
    """Replace a category."""
    category = categories.update_category(
        current_user_id(), category_id, body, request.headers.get("If-Match")
    )
    return category, {"ETag": category.etag}


@bp.patch(ITEM)
@jwt_required()
@bp.arguments(CategoryPatchSchema)
@bp.response(200, CategorySchema, headers=header_refs("ETag"))
@bp.problems(401, 403, 404, 409, 412, 413, 415)
@bp.headers("IfMatch")
@bp.doc(
    description="Only the fields given change. Also accepts "
    "`Content-Type: application/merge-patch+json` (RFC 7396)."
)
def patch_category(body: dict[str, Any], category_id: int) -> tuple[Category, dict[str, str]]:
    """Change some fields of a category."""
    category = categories.update_category(
        current_user_id(), category_id, body, request.headers.get("If-Match")
    )
    return category, {"ETag": category.etag}


@bp.delete(ITEM)
@jwt_required()
@bp.response(204)
@bp.problems(401, 403, 404, 412)
@bp.headers("IfMatch")
def delete_category(category_id: int) -> None:
    """Delete a category (its tasks stay, uncategorized)."""
    categories.delete_category(current_user_id(), category_id, request.headers.get("If-Match"))
