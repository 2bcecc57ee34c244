"""Service routes: health, the OpenAPI document and the docs page."""

from __future__ import annotations

from flask import Blueprint, Response
from sqlalchemy import text

from backend.extensions import db
from backend.http import Endpoint, endpoint, json_response
from backend.openapi import build_spec
from backend.schemas.service import HealthSchema

bp = Blueprint("service", __name__)


@bp.get("/health")
@endpoint(
    Endpoint(
        summary="Health: the service and its database",
        auth=None,
        response=HealthSchema(),
        errors=(503,),
    )
)
def health() -> dict[str, str]:
    """Check the database with a real query; an outage raises and answers 503."""
    db.session.execute(text("SELECT 1"))
    return {"status": "ok", "database": "ok"}


@bp.get("/openapi.json")
def openapi_document() -> Response:
    """Serve the OpenAPI 3 document generated from the routes and schemas."""
    return json_response(build_spec())
