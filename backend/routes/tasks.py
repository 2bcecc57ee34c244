"""Task routes: list, create, read, replace, change and delete tasks, one or many at once."""

from __future__ import annotations

from typing import Any

from flask import request, url_for
from flask_jwt_extended import jwt_required

from backend.auth import current_user_id
from backend.docs import header_refs
from backend.http import Blueprint, page_links
from backend.models import Task
from backend.routes.idempotency import idempotent
from backend.schemas.bulk import BulkDeletedSchema, BulkPatchSchema, BulkUpdatedSchema
from backend.schemas.tasks import (
    TaskFilterSchema,
    TaskInputSchema,
    TaskPageSchema,
    TaskPatchSchema,
    TaskQuerySchema,
    TaskSchema,
)
from backend.services import bulk, tasks
from backend.services.common import Page

bp = Blueprint(
    "tasks",
    __name__,
    description="Your tasks: list with filters, sort and pages; create, read, change, delete.",
)
ITEM = "/tasks/<id:task_id>"
MERGE_PATCH_NOTE = "Also accepts `Content-Type: application/merge-patch+json` (RFC 7396)."


@bp.get("/tasks")
@jwt_required()
@bp.arguments(TaskQuerySchema, location="query")
@bp.response(200, TaskPageSchema, headers=header_refs("Link"))
@bp.problems(401, 403)
def list_tasks(query: dict[str, Any]) -> tuple[Page[Task], dict[str, str]]:
    """List your tasks."""
    page = tasks.list_tasks(current_user_id(), query)
    return page, {"Link": page_links(page.total, page.limit, page.offset)}


@bp.post("/tasks")
@jwt_required()
@idempotent
@bp.arguments(TaskInputSchema)
@bp.response(201, TaskSchema, headers=header_refs("Location", "ETag", "Idempotent-Replayed"))
@bp.problems(401, 403, 409, 413, 415, 422)
@bp.headers("IdempotencyKey")
def create_task(body: dict[str, Any]) -> tuple[Task, dict[str, str]]:
    """Create a task."""
    task = tasks.create_task(current_user_id(), body)
    return task, {"Location": url_for(".get_task", task_id=task.id), "ETag": task.etag}


@bp.get(ITEM)
@jwt_required()
@bp.response(200, TaskSchema, headers=header_refs("ETag"))
@bp.alt_response(304, response="NOT_MODIFIED")
@bp.problems(401, 403, 404)
@bp.headers("IfNoneMatch")
def get_task(task_id: int) -> tuple[Task, dict[str, str]]:
    """Get a task."""
    task = tasks.get_task(current_user_id(), task_id)
    return task, {"ETag": task.etag}


@bp.put(ITEM)
@jwt_required()
@bp.arguments(TaskInputSchema)
@bp.response(200, TaskSchema, headers=header_refs("ETag"))
@bp.problems(401, 403, 404, 412, 413, 415)
@bp.headers("IfMatch")
@bp.doc(description="Every writable field is replaced; omitted ones return to their defaults.")
def replace_task(body: dict[str, Any], task_id: int) -> tuple[Task, dict[str, str]]:
    """Replace a task."""
    task = tasks.update_task(current_user_id(), task_id, body, request.headers.get("If-Match"))
    return task, {"ETag": task.etag}


@bp.patch(ITEM)
@jwt_required()
@bp.arguments(TaskPatchSchema)
@bp.response(200, TaskSchema, headers=header_refs("ETag"))
@bp.problems(401, 403, 404, 412, 413, 415)
@bp.headers("IfMatch")
@bp.doc(description=f"Only the fields given change. {MERGE_PATCH_NOTE}")
def patch_task(body: dict[str, Any], task_id: int) -> tuple[Task, dict[str, str]]:
    """Change some fields of a task."""
    task = tasks.update_task(current_user_id(), task_id, body, request.headers.get("If-Match"))
    return task, {"ETag": task.etag}


@bp.delete(ITEM)
@jwt_required()
@bp.response(204)
@bp.problems(401, 403, 404, 412)
@bp.headers("IfMatch")
def delete_task(task_id: int) -> None:
    """Delete a task."""
    tasks.delete_task(current_user_id(), task_id, request.headers.get("If-Match"))


@bp.patch("/tasks")
@jwt_required()
@bp.arguments(BulkPatchSchema)
@bp.response(200, BulkUpdatedSchema)
@bp.problems(401, 403, 413, 415)
@bp.doc(description=f"All or nothing. {MERGE_PATCH_NOTE}")
def update_tasks(body: dict[str, Any]) -> dict[str, Any]:
    """Change many tasks at once."""
    items = bulk.update_tasks(current_user_id(), body["ids"], body["changes"])
    return {"updated": len(items), "items": items}


@bp.delete("/tasks")
@jwt_required()
@bp.arguments(TaskFilterSchema, location="query")
@bp.response(200, BulkDeletedSchema)
@bp.problems(401, 403)
@bp.doc(
    description="Takes the filters of `GET /tasks` (not `limit`, `offset` or `sort`) and "
    "needs at least one of them, e.g. `status=done`."
)
def delete_tasks(query: dict[str, Any]) -> dict[str, int]:
    """Delete the tasks a filter matches."""
    return {"deleted": bulk.delete_tasks(current_user_id(), query)}
