"""Service routes: the index and health (the OpenAPI document and docs page are flask-smorest's)."""

from __future__ import annotations

from flask import url_for
from sqlalchemy import text

from backend.extensions import db
from backend.http import Blueprint
from backend.schemas.service import HealthSchema, IndexSchema

bp = Blueprint("service", __name__, description="Health and this documentation.")


@bp.get("/health")
@bp.response(200, HealthSchema)
@bp.problems(503)
@bp.doc(security=[])
def health() -> dict[str, str]:
    """Health: the service and its database."""
    db.session.execute(text("SELECT 1"))
    return {"status": "ok", "database": "ok"}


@bp.get("")
@bp.response(200, IndexSchema)
@bp.doc(security=[])
def index() -> dict[str, str]:
    """Where to start: the docs page, the OpenAPI document and health."""
    return {
        "name": "TaskTracker API",
        "docs": url_for("api-docs.openapi_swagger_ui"),
        "openapi": url_for("api-docs.openapi_json"),
        "health": url_for("service.health"),
    }
