"""OWASP API1:2023 Broken Object Level Authorization.

Every route that names an object by id (the URL map's rules with `<id:`) is tried by another
user on the owner's object: the answer is 403 `forbidden` and nothing changes. Ids in bodies
and filters (`category_id`, bulk `ids`) are held to the same rule.
"""

from __future__ import annotations

import pytest
from flask import Flask

from tests.conftest import User, assert_problem
from tests.security.conftest import API, Owned, Route, api_routes


def item_routes(app: Flask) -> list[Route]:
    return [route for route in api_routes(app) if "<id:" in route.rule]


def test_every_item_route_is_enumerated(app: Flask) -> None:
    rules = {str(route) for route in item_routes(app)}
    assert rules >= {
        f"{method} {API}/{plural}/<id:{name}_id>"
        for plural, name in (("tasks", "task"), ("categories", "category"))
        for method in ("GET", "PUT", "PATCH", "DELETE")
    }
    assert f"DELETE {API}/auth/sessions/<id:session_id>" in rules


def test_another_users_objects_are_403_on_every_item_route_and_unchanged(
    app: Flask, owned: Owned, other_user: User
) -> None:
    before = owned.snapshot()
    answers = {}
    for route in item_routes(app):
        response = other_user.request(route.method, owned.path(route.rule), json=route.body)
        answers[str(route)] = response.status_code
        assert_problem(response, 403, "forbidden")
    assert owned.snapshot() == before, answers
    # The owner still reaches everything, with their session intact.
    assert before["task"][0] == before["category"][0] == 200
    assert owned.session_id in before["sessions"]


def test_if_match_star_does_not_bypass_ownership(owned: Owned, other_user: User) -> None:
    before = owned.snapshot()
    for path in (f"{API}/tasks/{owned.task_id}", f"{API}/categories/{owned.category_id}"):
        response = other_user.delete(path, headers={"If-Match": "*"})
        assert_problem(response, 403, "forbidden")
    assert owned.snapshot() == before


def test_etags_of_another_users_objects_do_not_leak(owned: Owned, other_user: User) -> None:
    tag = owned.snapshot()["task"][2]
    response = other_user.get(f"{API}/tasks/{owned.task_id}", headers={"If-None-Match": tag})
    assert_problem(response, 403, "forbidden")
    assert "ETag" not in response.headers


def test_lists_show_only_the_callers_objects(owned: Owned, other_user: User) -> None:
    other_user.post(f"{API}/tasks", json={"title": "Mine"})
    tasks = other_user.get(f"{API}/tasks?limit=100").get_json()
    categories = other_user.get(f"{API}/categories?limit=100").get_json()
    sessions = other_user.get(f"{API}/auth/sessions").get_json()["items"]
    assert [task["title"] for task in tasks["items"]] == ["Mine"]
    assert tasks["total"] == 1
    assert categories["items"] == []
    assert owned.session_id not in {session["id"] for session in sessions}


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
def test_another_users_category_in_a_task_body_is_403(
    owned: Owned, other_user: User, method: str
) -> None:
    own_task = other_user.post(f"{API}/tasks", json={"title": "Mine"}).get_json()
    path = f"{API}/tasks" if method == "POST" else f"{API}/tasks/{own_task['id']}"
    body = {"title": "Mine", "category_id": owned.category_id}
    response = other_user.request(method, path, json=body)
    assert_problem(response, 403, "forbidden")
    after = other_user.get(f"{API}/tasks/{own_task['id']}").get_json()
    assert after["category_id"] is None
    assert other_user.get(f"{API}/tasks").get_json()["total"] == 1
    assert owned.user.get(f"{API}/categories/{owned.category_id}").get_json()["task_count"] == 1


def test_another_users_category_as_a_filter_is_403(owned: Owned, other_user: User) -> None:
    for method in ("GET", "DELETE"):
        response = other_user.request(
            method, f"{API}/tasks", query_string={"category_id": owned.category_id}
        )
        assert_problem(response, 403, "forbidden")
    assert owned.user.get(f"{API}/tasks/{owned.task_id}").status_code == 200


def test_bulk_changes_with_another_users_id_change_nothing(owned: Owned, other_user: User) -> None:
    own_task = other_user.post(f"{API}/tasks", json={"title": "Mine"}).get_json()
    before = owned.snapshot()
    response = other_user.patch(
        f"{API}/tasks",
        json={"ids": [own_task["id"], owned.task_id], "changes": {"status": "done"}},
    )
    assert_problem(response, 403, "forbidden")
    assert owned.snapshot() == before
    assert other_user.get(f"{API}/tasks/{own_task['id']}").get_json()["status"] == "todo"


def test_bulk_delete_deletes_only_the_callers_tasks(owned: Owned, other_user: User) -> None:
    other_user.post(f"{API}/tasks", json={"title": "Mine"})
    response = other_user.delete(f"{API}/tasks", query_string={"status": "todo"})
    assert response.status_code == 200
    assert response.get_json() == {"deleted": 1}
    assert owned.user.get(f"{API}/tasks/{owned.task_id}").status_code == 200


def test_a_token_cannot_reach_a_deleted_users_objects(owned: Owned, other_user: User) -> None:
    """Ids are never reused: a new user never inherits a deleted user's objects."""
    deleted = owned.user.delete(f"{API}/auth/me", json={"password": owned.user.password})
    assert deleted.status_code == 204
    created = other_user.post(f"{API}/tasks", json={"title": "Fresh"}).get_json()
    assert created["id"] > owned.task_id
    assert_problem(other_user.get(f"{API}/tasks/{owned.task_id}"), 404, "not_found")
