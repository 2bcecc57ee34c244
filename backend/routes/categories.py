"""Category routes: the CRUD builder over the category service."""

from __future__ import annotations

from flask import Blueprint

from backend.routes.crud import Resource, add_crud_routes
from backend.schemas.categories import CategoryPageSchema, CategorySchema
from backend.schemas.common import SearchQuerySchema
from backend.services import categories

bp = Blueprint("categories", __name__)

add_crud_routes(
    bp,
    Resource(
        name="category",
        plural="categories",
        schema=CategorySchema(),
        page_schema=CategoryPageSchema(),
        query_schema=SearchQuerySchema(),
        service=categories.SERVICE,
        conflict_errors=(409,),
    ),
)
