"""Service routes: health (the OpenAPI document and the docs page are flask-smorest's)."""

from __future__ import annotations

from sqlalchemy import text

from backend.extensions import db
from backend.http import Blueprint
from backend.schemas.service import HealthSchema

bp = Blueprint("service", __name__, description="Health and this documentation.")


@bp.get("/health")
@bp.response(200, HealthSchema)
@bp.problems(503)
@bp.doc(security=[])
def health() -> dict[str, str]:
    """Health: the service and its database."""
    db.session.execute(text("SELECT 1"))
    return {"status": "ok", "database": "ok"}
