"""Task queries and writes, always scoped to one user."""

from backend.services.common import CrudService
from backend.services.tasks.listing import list_tasks
from backend.services.tasks.rows import get_task
from backend.services.tasks.writes import create_task, delete_task, update_task

SERVICE = CrudService(
    list=list_tasks, get=get_task, create=create_task, update=update_task, delete=delete_task
)
