"""The OpenAPI 3 document, generated from the routes' `Endpoint` specs and their schemas."""

from __future__ import annotations

from typing import Any


def build_spec() -> dict[str, Any]:
    """Return the OpenAPI document (placeholder until the generator lands)."""
    return {"openapi": "3.1.0"}
