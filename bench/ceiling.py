"""The ceiling: a bare Flask app answering one page of task-shaped objects, nothing else.

No database, no auth, no schemas, no middleware: what gunicorn + Flask + `jsonify` can serve
on this machine with the same worker settings as the real app.  `bench/run` divides every
scenario's requests/s by this app's to get a ratio that does not depend on the machine.

Run: gunicorn -c gunicorn.conf.py "bench.ceiling:create_app()"
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import Flask, jsonify

PAGE_SIZE = 20
TOTAL = 143
STATUSES = ("todo", "in_progress", "done")
PRIORITIES = ("low", "medium", "high")
TITLES = (
    "Write the quarterly report",
    "Call the plumber about the kitchen sink",
    "Renew passport",
    "Review pull request #482",
    "Buy birthday present for Sam",
)


def _timestamp(moment: datetime) -> str:
    """Format a time as the API does: RFC 3339, UTC, microseconds, `Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sample_tasks(count: int = PAGE_SIZE) -> list[dict[str, Any]]:
    """Return `count` task objects shaped exactly like the API's, with realistic values."""
    start = datetime(2026, 3, 2, 9, 15, 4, 123456, tzinfo=UTC)
    tasks = []
    for index in range(count):
        created = start + timedelta(days=index * 3, minutes=index * 17)
        status = STATUSES[index % 3]
        tasks.append(
            {
                "id": 9_000 + index,
                "title": TITLES[index % len(TITLES)],
                "description": None
                if index % 2
                else "Collect the numbers from finance first, then draft the summary.",
                "status": status,
                "priority": PRIORITIES[index % 3],
                "due_date": None
                if index % 3 == 1
                else (date(2026, 12, 1) + timedelta(days=index)).isoformat(),
                "category_id": None if index % 4 == 0 else 10 + index % 4,
                "created_at": _timestamp(created),
                "updated_at": _timestamp(created + timedelta(hours=5)),
                "completed_at": _timestamp(created + timedelta(hours=5))
                if status == "done"
                else None,
            }
        )
    return tasks


def create_app() -> Flask:
    """Build the ceiling app: `GET /api/v1/tasks` answers a fixed page in the list envelope."""
    app = Flask(__name__)
    items = sample_tasks()

    @app.get("/api/v1/tasks")
    def list_tasks() -> Any:
        return jsonify({"items": items, "total": TOTAL, "limit": PAGE_SIZE, "offset": 0})

    return app
