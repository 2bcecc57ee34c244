"""Task routes: the CRUD builder over the task service."""

from __future__ import annotations

from flask import Blueprint

from backend.routes.crud import Resource, add_crud_routes
from backend.schemas.tasks import TaskPageSchema, TaskQuerySchema, TaskSchema
from backend.services import tasks

bp = Blueprint("tasks", __name__)

add_crud_routes(
    bp,
    Resource(
        name="task",
        plural="tasks",
        schema=TaskSchema(),
        page_schema=TaskPageSchema(),
        query_schema=TaskQuerySchema(),
        service=tasks.SERVICE,
        list_errors=(400, 401, 403),
        autocommit_writes=True,
    ),
)
