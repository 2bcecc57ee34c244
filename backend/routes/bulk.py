"""Bulk task routes: change many tasks at once, delete the tasks a filter matches."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from backend.auth import current_principal
from backend.http import Endpoint, endpoint
from backend.schemas.bulk import BulkDeletedSchema, BulkPatchSchema, BulkUpdatedSchema
from backend.schemas.tasks import TaskQuerySchema
from backend.services import bulk

bp = Blueprint("bulk", __name__)


@bp.patch("/tasks")
@endpoint(
    Endpoint(
        summary="Change many tasks at once (all or nothing)",
        body=BulkPatchSchema(),
        response=BulkUpdatedSchema(),
        errors=(400, 401, 403, 413, 415),
    )
)
def update_tasks(body: dict[str, Any]) -> dict[str, int]:
    """Apply the same changes to each listed task."""
    updated = bulk.update_tasks(current_principal().user_id, body["ids"], body["changes"])
    return {"updated": updated}


@bp.delete("/tasks")
@endpoint(
    Endpoint(
        summary="Delete the tasks a filter matches (e.g. status=done)",
        query=TaskQuerySchema(),
        response=BulkDeletedSchema(),
        errors=(400, 401, 403),
    )
)
def delete_tasks(query: dict[str, Any]) -> dict[str, int]:
    """Delete the user's tasks matching the filters."""
    return {"deleted": bulk.delete_tasks(current_principal().user_id, query)}
