"""HTTP routes, one flask-smorest blueprint per resource, all under `/api/v1`."""

from __future__ import annotations

from flask import Flask
from werkzeug.routing import BaseConverter

from backend.docs import register_docs
from backend.extensions import api

# `recovery` only adds its routes to `auth.bp` (one tag for accounts and tokens).
from backend.routes import auth, categories, recovery, service, tasks  # noqa: F401
from backend.schemas.fields import INT32_MAX

API_PREFIX = "/api/v1"


class IdConverter(BaseConverter):
    """A resource id in a path: up to ten digits (a larger or zero id matches no row: 404)."""

    regex = r"[0-9]{1,10}"
    part_isolating = True

    def to_python(self, value: str) -> int:
        """Convert the path segment."""
        return int(value)

    def to_url(self, value: int) -> str:
        """Write an id into a path."""
        return str(value)


def register_blueprints(app: Flask) -> None:
    """Register the Api and every blueprint under the API prefix."""
    app.url_map.converters["id"] = IdConverter
    register_docs(app, API_PREFIX)
    api.register_converter(
        IdConverter,
        lambda _converter: {"type": "integer", "minimum": 1, "maximum": INT32_MAX},
    )
    for blueprint in (auth.bp, tasks.bp, categories.bp, service.bp):
        api.register_blueprint(blueprint, url_prefix=API_PREFIX)
    # The site's root points at the API (it is not part of it, so not in its document).
    app.add_url_rule("/", "root", service.index)
