"""Service routes: health, the OpenAPI document and the docs page."""

from __future__ import annotations

from flask import Blueprint, Response, send_from_directory, url_for
from sqlalchemy import text
from swagger_ui_bundle import swagger_ui_path

from backend.database import execute
from backend.errors import NotFound
from backend.http import Endpoint, endpoint, json_response
from backend.openapi import (
    DOCS_ASSET_MAX_AGE,
    DOCS_ASSETS,
    DOCS_CSP,
    build_spec,
    docs_html,
    docs_initializer,
)
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
    execute(text("SELECT 1"))
    return {"status": "ok", "database": "ok"}


@bp.get("/openapi.json")
def openapi_document() -> Response:
    """Serve the OpenAPI 3 document generated from the routes and schemas."""
    return json_response(build_spec())


@bp.get("/docs")
def docs_page() -> Response:
    """Serve the Swagger UI page; its scripts and styles come from this app, never a CDN."""
    page = docs_html(
        lambda name: url_for(".docs_asset", filename=name), url_for(".docs_initializer_script")
    )
    response = Response(page, mimetype="text/html")
    response.headers["Content-Security-Policy"] = DOCS_CSP
    return response


@bp.get("/docs/swagger-initializer.js")
def docs_initializer_script() -> Response:
    """Serve the script that points Swagger UI at the OpenAPI document."""
    return Response(docs_initializer(url_for(".openapi_document")), mimetype="text/javascript")


@bp.get("/docs/<path:filename>")
def docs_asset(filename: str) -> Response:
    """Serve one of Swagger UI's own files from the installed `swagger-ui-bundle` package."""
    if filename not in DOCS_ASSETS:
        raise NotFound
    return send_from_directory(str(swagger_ui_path), filename, max_age=DOCS_ASSET_MAX_AGE)
