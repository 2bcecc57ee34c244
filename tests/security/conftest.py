"""What the security modules share: the app's routes, and a user who owns one of everything."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask

from tests.conftest import User

API = "/api/v1"
PUBLIC_RULES = frozenset(
    {
        f"{API}/auth/register",
        f"{API}/auth/login",
        f"{API}/auth/password-reset",
        f"{API}/auth/password-reset/confirm",
        f"{API}/auth/verify-email",
        f"{API}/health",
        API,
        f"{API}/openapi.json",
        f"{API}/docs",
        f"{API}/docs/assets/<path:filename>",
    }
)
PLACEHOLDER = re.compile(r"<(?:\w+:)?(\w+)>")
# A body each writing route accepts, so that only authorization can stop the request.
VALID_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", f"{API}/tasks"): {"title": "Intruder"},
    ("PUT", f"{API}/tasks/<id:task_id>"): {"title": "Intruder"},
    ("PATCH", f"{API}/tasks/<id:task_id>"): {"title": "Intruder"},
    ("PATCH", f"{API}/tasks"): {"ids": [1], "changes": {"title": "Intruder"}},
    ("POST", f"{API}/categories"): {"name": "Intruder"},
    ("PUT", f"{API}/categories/<id:category_id>"): {"name": "Intruder"},
    ("PATCH", f"{API}/categories/<id:category_id>"): {"name": "Intruder"},
    ("PATCH", f"{API}/auth/me"): {"name": "Intruder"},
    ("POST", f"{API}/auth/password"): {
        "current_password": "Correct-Horse-9",
        "new_password": "Another-Horse-10",
    },
    ("DELETE", f"{API}/auth/me"): {"password": "Correct-Horse-9"},
}


@dataclass(frozen=True)
class Route:
    """One method on one URL rule of the app."""

    method: str
    rule: str

    def __str__(self) -> str:
        """Read as `METHOD /rule`."""
        return f"{self.method} {self.rule}"

    @property
    def body(self) -> dict[str, Any] | None:
        """Return a valid body for the route, if it takes one."""
        return VALID_BODIES.get((self.method, self.rule))


def api_routes(app: Flask) -> list[Route]:
    """Return every route of the API, from the app's URL map."""
    return sorted(
        {
            Route(method, rule.rule)
            for rule in app.url_map.iter_rules()
            if rule.rule.startswith(API)
            for method in rule.methods or ()
            if method not in {"HEAD", "OPTIONS"}
        },
        key=lambda route: (route.rule, route.method),
    )


@dataclass(frozen=True)
class Owned:
    """A user with a category, a task in it, and their session id."""

    user: User
    task_id: int
    category_id: int
    session_id: int

    def path(self, rule: str) -> str:
        """Fill the rule's placeholders with this user's ids."""

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            if name == "filename":
                return "swagger-ui.css"
            if name == "session_id":
                return str(self.session_id)
            return str(self.category_id if "/categories/" in rule else self.task_id)

        return PLACEHOLDER.sub(fill, rule)

    def snapshot(self) -> dict[str, Any]:
        """Return everything the user can see, to compare before and after an attack."""
        task = self.user.get(f"{API}/tasks/{self.task_id}")
        category = self.user.get(f"{API}/categories/{self.category_id}")
        return {
            "task": (task.status_code, task.get_json(), task.headers.get("ETag")),
            "category": (category.status_code, category.get_json(), category.headers.get("ETag")),
            "tasks": self.user.get(f"{API}/tasks").get_json(),
            "categories": self.user.get(f"{API}/categories").get_json(),
            "me": self.user.get(f"{API}/auth/me").get_json(),
            "sessions": [
                session["id"]
                for session in self.user.get(f"{API}/auth/sessions").get_json()["items"]
            ],
        }


def own_everything(user: User) -> Owned:
    """Give `user` a category and a task in it; return them with the user's session."""
    category = user.post(f"{API}/categories", json={"name": "Private"})
    assert category.status_code == 201, category.get_json()
    task = user.post(
        f"{API}/tasks",
        json={"title": "Private plans", "category_id": category.get_json()["id"]},
    )
    assert task.status_code == 201, task.get_json()
    sessions = user.get(f"{API}/auth/sessions").get_json()["items"]
    return Owned(user, task.get_json()["id"], category.get_json()["id"], sessions[0]["id"])


@pytest.fixture
def owned(user: User) -> Owned:
    """Return the `user` fixture with one of everything."""
    return own_everything(user)
