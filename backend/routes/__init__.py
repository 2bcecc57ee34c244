"""HTTP routes, one blueprint per resource, all under `/api/v1`."""

from __future__ import annotations

from flask import Flask
from werkzeug.routing import BaseConverter

from backend.routes import account, auth, bulk, categories, service, tasks
from backend.schemas.fields import INT32_MAX

API_PREFIX = "/api/v1"


class IdConverter(BaseConverter):
    """A resource id in a path: up to ten digits.

    Ids that no row can have (0, beyond 2**31 - 1) still match, so that every method answers
    404 for them rather than 405.
    """

    regex = r"[0-9]{1,10}"
    part_isolating = True

    def to_python(self, value: str) -> int:
        """Convert the path segment; an impossible id becomes 0, which matches no row."""
        number = int(value)
        return number if number <= INT32_MAX else 0

    def to_url(self, value: int) -> str:
        """Write an id into a path."""
        return str(value)


def register_blueprints(app: Flask) -> None:
    """Register every blueprint under the API prefix."""
    app.url_map.converters["id"] = IdConverter
    for blueprint in (auth.bp, account.bp, tasks.bp, bulk.bp, categories.bp, service.bp):
        app.register_blueprint(blueprint, url_prefix=API_PREFIX)
