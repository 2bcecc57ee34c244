"""Tasks: every route's success and error responses, ETags and `completed_at` (issue "Tasks and
categories")."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest

from tests.conftest import TASK_FIELDS, User, assert_problem, make_category, make_task

TASKS = "/api/v1/tasks"
TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
ITEM_METHODS = ("GET", "PUT", "PATCH", "DELETE")
VALID_BODY: dict[str, dict[str, Any]] = {
    "GET": {},
    "PUT": {"json": {"title": "Replaced"}},
    "PATCH": {"json": {"title": "Patched"}},
    "DELETE": {},
}


def parse_time(value: str) -> datetime:
    assert TIME.fullmatch(value), value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def call(user: User, method: str, path: str, **kwargs: Any) -> Any:
    return getattr(user, method.lower())(path, **kwargs)


def current(user: User, task_id: int) -> tuple[dict[str, Any], str]:
    response = user.get(f"{TASKS}/{task_id}")
    assert response.status_code == 200
    return response.get_json(), response.headers["ETag"]


# --- success of each route ---------------------------------------------------------------


def test_create_task_with_defaults(user: User):
    response = user.post(TASKS, json={"title": "Write report"})
    assert response.status_code == 201
    task = response.get_json()
    assert set(task) == TASK_FIELDS
    assert task["id"] >= 1
    assert {key: task[key] for key in TASK_FIELDS - {"id", "created_at", "updated_at"}} == {
        "title": "Write report",
        "description": None,
        "status": "todo",
        "priority": "medium",
        "due_date": None,
        "category_id": None,
        "completed_at": None,
    }
    assert parse_time(task["created_at"]) == parse_time(task["updated_at"])
    assert response.headers["Location"].endswith(f"{TASKS}/{task['id']}")
    etag = response.headers["ETag"]
    assert re.fullmatch(r'"[^"]+"', etag)

    fetched = user.get(response.headers["Location"])
    assert fetched.status_code == 200
    assert fetched.get_json() == task
    assert fetched.headers["ETag"] == etag


def test_create_task_with_every_field(user: User):
    category = make_category(user)
    body = {
        "title": "Write report",
        "description": "Quarterly\nnumbers",
        "status": "in_progress",
        "priority": "high",
        "due_date": "2026-12-01",
        "category_id": category["id"],
    }
    task = make_task(user, **body)
    assert {key: task[key] for key in body} == body
    assert task["completed_at"] is None


def test_create_done_task_sets_completed_at(user: User):
    task = make_task(user, status="done")
    completed = parse_time(task["completed_at"])
    assert completed == parse_time(task["created_at"]) == parse_time(task["updated_at"])


def test_get_task_with_etag(user: User):
    task = make_task(user, title="Read")
    response = user.get(f"{TASKS}/{task['id']}")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == task
    assert response.headers["ETag"]


def test_put_replaces_every_writable_field(user: User):
    category = make_category(user)
    task = make_task(
        user,
        description="old",
        status="in_progress",
        priority="high",
        due_date="2026-12-01",
        category_id=category["id"],
    )
    response = user.put(f"{TASKS}/{task['id']}", json={"title": "  New  "})
    assert response.status_code == 200
    replaced = response.get_json()
    assert replaced == {
        **task,
        "title": "New",
        "description": None,
        "status": "todo",
        "priority": "medium",
        "due_date": None,
        "category_id": None,
        "updated_at": replaced["updated_at"],
    }
    assert parse_time(replaced["updated_at"]) > parse_time(task["updated_at"])
    assert response.headers["ETag"] == current(user, task["id"])[1]
    assert current(user, task["id"])[0] == replaced


def test_put_sets_every_field_given(user: User):
    category = make_category(user)
    task = make_task(user)
    body = {
        "title": "All",
        "description": "d",
        "status": "done",
        "priority": "low",
        "due_date": "2027-01-31",
        "category_id": category["id"],
    }
    response = user.put(f"{TASKS}/{task['id']}", json=body)
    assert response.status_code == 200
    replaced = response.get_json()
    assert {key: replaced[key] for key in body} == body
    assert replaced["completed_at"] is not None


def test_put_requires_title(user: User):
    task = make_task(user, title="Keep")
    response = user.put(f"{TASKS}/{task['id']}", json={"description": "x"})
    body = assert_problem(response, 400, "validation_error")
    assert "title" in body["errors"]
    assert current(user, task["id"])[0] == task


def test_patch_changes_only_given_fields(user: User):
    category = make_category(user)
    task = make_task(
        user,
        description="keep",
        priority="high",
        due_date="2026-12-01",
        category_id=category["id"],
    )
    response = user.patch(f"{TASKS}/{task['id']}", json={"title": "Renamed"})
    assert response.status_code == 200
    patched = response.get_json()
    assert patched == {**task, "title": "Renamed", "updated_at": patched["updated_at"]}
    assert parse_time(patched["updated_at"]) > parse_time(task["updated_at"])
    assert current(user, task["id"])[0] == patched


def test_patch_each_field_alone(user: User):
    category = make_category(user)
    changes = {
        "description": "new description",
        "status": "in_progress",
        "priority": "low",
        "due_date": "2030-02-28",
        "category_id": None,
    }
    for field, value in changes.items():
        task = make_task(user, category_id=category["id"])
        response = user.patch(f"{TASKS}/{task['id']}", json={field: value})
        assert response.status_code == 200
        patched = response.get_json()
        assert patched[field] == value
        unchanged = TASK_FIELDS - {field, "updated_at"}
        assert {key: patched[key] for key in unchanged} == {key: task[key] for key in unchanged}


def test_patch_empty_body_changes_nothing(user: User):
    task = make_task(user)
    response = user.patch(f"{TASKS}/{task['id']}", json={})
    assert response.status_code == 200
    assert response.get_json() == task


def test_completed_at_follows_status(user: User):
    task = make_task(user)
    path = f"{TASKS}/{task['id']}"
    assert task["completed_at"] is None

    done = user.patch(path, json={"status": "done"}).get_json()
    assert done["completed_at"] == done["updated_at"]
    completed = parse_time(done["completed_at"])
    assert completed > parse_time(task["created_at"])

    renamed = user.patch(path, json={"title": "Still done", "priority": "high"}).get_json()
    assert renamed["status"] == "done"
    assert renamed["completed_at"] == done["completed_at"]
    assert parse_time(renamed["updated_at"]) > parse_time(done["updated_at"])

    again = user.patch(path, json={"status": "done"}).get_json()
    assert again["completed_at"] == done["completed_at"]

    reopened = user.patch(path, json={"status": "in_progress"}).get_json()
    assert reopened["completed_at"] is None

    redone = user.patch(path, json={"status": "done"}).get_json()
    assert parse_time(redone["completed_at"]) > completed


def test_put_keeps_completed_at_of_done_task_and_clears_it_on_default_status(user: User):
    task = make_task(user, status="done")
    path = f"{TASKS}/{task['id']}"
    kept = user.put(path, json={"title": "Done still", "status": "done"}).get_json()
    assert kept["completed_at"] == task["completed_at"]
    cleared = user.put(path, json={"title": "Back to todo"}).get_json()
    assert cleared["status"] == "todo"
    assert cleared["completed_at"] is None


def test_updated_at_moves_on_every_change_and_created_at_never(user: User):
    task = make_task(user)
    path = f"{TASKS}/{task['id']}"
    seen = [task]
    for body in ({"title": "a"}, {"priority": "low"}, {"status": "done"}, {"description": "x"}):
        seen.append(user.patch(path, json=body).get_json())
    seen.append(user.put(path, json={"title": "b"}).get_json())
    times = [parse_time(item["updated_at"]) for item in seen]
    assert times == sorted(times)
    assert len(set(times)) == len(times)
    assert {item["created_at"] for item in seen} == {task["created_at"]}


def test_delete_task_then_get_is_404(user: User):
    task = make_task(user)
    path = f"{TASKS}/{task['id']}"
    response = user.delete(path)
    assert response.status_code == 204
    assert response.get_data() == b""
    assert_problem(user.get(path), 404, "not_found")
    assert_problem(user.delete(path), 404, "not_found")
    assert user.get(TASKS).get_json()["total"] == 0


# --- errors ------------------------------------------------------------------------------


def test_every_route_needs_a_token(client, user: User):
    make_task(user)
    routes = [("GET", TASKS), ("POST", TASKS)] + [(m, f"{TASKS}/1") for m in ITEM_METHODS]
    for method, path in routes:
        response = client.open(path, method=method, json={"title": "x"})
        assert_problem(response, 401, "token_missing")
    assert user.get(TASKS).get_json()["items"][0]["title"] == "Task"


BAD_IDS = ["999", "abc", "0", "-1", "2147483648", "99999999999", "1.5", "%201", "\u0661"]


@pytest.mark.parametrize("method", ITEM_METHODS)
def test_unknown_or_malformed_id_is_404(user: User, method: str):
    make_task(user)
    for task_id in BAD_IDS:
        response = call(user, method, f"{TASKS}/{task_id}", **VALID_BODY[method])
        assert response.status_code == 404, (task_id, response.status_code)
        assert_problem(response, 404, "not_found")


@pytest.mark.parametrize("method", ITEM_METHODS)
def test_another_users_task_is_403_and_unchanged(user: User, other_user: User, method: str):
    task = make_task(other_user, title="Theirs")
    _, etag = current(other_user, task["id"])
    response = call(user, method, f"{TASKS}/{task['id']}", **VALID_BODY[method])
    assert_problem(response, 403, "forbidden")
    assert current(other_user, task["id"]) == (task, etag)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
def test_missing_category_is_400_on_category_id(user: User, method: str):
    task = make_task(user)
    path = TASKS if method == "POST" else f"{TASKS}/{task['id']}"
    for category_id in (999, 0, -1, 2**31, 99999999999, 10**20):
        response = call(user, method, path, json={"title": "x", "category_id": category_id})
        body = assert_problem(response, 400, "validation_error")
        assert list(body["errors"]) == ["category_id"], category_id
    assert user.get(TASKS).get_json()["items"] == [task]


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
def test_another_users_category_is_403(user: User, other_user: User, method: str):
    task = make_task(user)
    theirs = make_category(other_user)
    path = TASKS if method == "POST" else f"{TASKS}/{task['id']}"
    response = call(user, method, path, json={"title": "x", "category_id": theirs["id"]})
    assert_problem(response, 403, "forbidden")
    assert user.get(TASKS).get_json()["items"] == [task]
    assert other_user.get(f"/api/v1/categories/{theirs['id']}").get_json()["task_count"] == 0


def test_own_category_can_be_set_and_cleared(user: User):
    category = make_category(user)
    task = make_task(user)
    path = f"{TASKS}/{task['id']}"
    assert (
        user.patch(path, json={"category_id": category["id"]}).get_json()["category_id"]
        == (category["id"])
    )
    assert user.patch(path, json={"category_id": None}).get_json()["category_id"] is None


# --- ETags and conditional requests -----------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_stale_if_match_is_412_and_changes_nothing(user: User, method: str):
    task = make_task(user)
    path = f"{TASKS}/{task['id']}"
    stale = current(user, task["id"])[1]
    changed = user.patch(path, json={"priority": "high"}).get_json()
    fresh = current(user, task["id"])[1]
    assert fresh != stale

    response = call(user, method, path, headers={"If-Match": stale}, **VALID_BODY[method])
    assert_problem(response, 412, "precondition_failed")
    assert current(user, task["id"]) == (changed, fresh)


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_non_matching_if_match_is_412(user: User, method: str):
    task = make_task(user)
    path = f"{TASKS}/{task['id']}"
    etag = current(user, task["id"])[1]
    for header in ('"not-the-etag"', f"W/{etag}", '"x", "y"'):
        response = call(user, method, path, headers={"If-Match": header}, **VALID_BODY[method])
        assert response.status_code == 412, header
        assert_problem(response, 412, "precondition_failed")
    assert current(user, task["id"]) == (task, etag)


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_matching_if_match_succeeds(user: User, method: str):
    for header in ("{etag}", "*", '"other", {etag}'):
        task = make_task(user)
        path = f"{TASKS}/{task['id']}"
        etag = current(user, task["id"])[1]
        response = call(
            user, method, path, headers={"If-Match": header.format(etag=etag)}, **VALID_BODY[method]
        )
        if method == "DELETE":
            assert response.status_code == 204, header
            assert user.get(path).status_code == 404
        else:
            assert response.status_code == 200, header
            assert response.headers["ETag"] != etag
            assert current(user, task["id"]) == (response.get_json(), response.headers["ETag"])


def test_write_returns_the_new_etag_usable_as_if_match(user: User):
    task = make_task(user)
    path = f"{TASKS}/{task['id']}"
    first = user.patch(path, json={"title": "one"})
    second = user.patch(path, json={"title": "two"}, headers={"If-Match": first.headers["ETag"]})
    assert second.status_code == 200
    retry = user.patch(path, json={"title": "three"}, headers={"If-Match": first.headers["ETag"]})
    assert_problem(retry, 412, "precondition_failed")
    assert current(user, task["id"])[0]["title"] == "two"


def test_if_none_match_with_current_etag_is_304_without_body(user: User):
    task = make_task(user)
    path = f"{TASKS}/{task['id']}"
    etag = current(user, task["id"])[1]
    response = user.get(path, headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.get_data() == b""
    assert response.headers["ETag"] == etag

    user.patch(path, json={"title": "changed"})
    response = user.get(path, headers={"If-None-Match": etag})
    assert response.status_code == 200
    assert response.get_json()["title"] == "changed"
    assert response.headers["ETag"] != etag


def test_if_none_match_compares_weakly_and_accepts_lists(user: User):
    task = make_task(user)
    path = f"{TASKS}/{task['id']}"
    etag = current(user, task["id"])[1]
    for header in (f"W/{etag}", f'"other", {etag}', "*"):
        response = user.get(path, headers={"If-None-Match": header})
        assert response.status_code == 304, header
        assert response.get_data() == b""


def test_if_none_match_with_other_etag_is_200(user: User):
    task = make_task(user)
    response = user.get(f"{TASKS}/{task['id']}", headers={"If-None-Match": '"nope"'})
    assert response.status_code == 200
    assert response.get_json() == task


def test_etag_is_stable_until_the_task_changes(user: User):
    task = make_task(user)
    path = f"{TASKS}/{task['id']}"
    created_etag = user.get(path).headers["ETag"]
    assert user.get(path).headers["ETag"] == created_etag
    etags = {created_etag}
    for body in ({"title": "a"}, {"status": "done"}, {"due_date": "2026-01-01"}):
        etags.add(user.patch(path, json=body).headers["ETag"])
        assert user.get(path).headers["ETag"] in etags
    assert len(etags) == 4


def test_tasks_of_two_users_stay_apart(user: User, other_user: User):
    mine = make_task(user, title="Mine")
    theirs = make_task(other_user, title="Theirs")
    assert [item["id"] for item in user.get(TASKS).get_json()["items"]] == [mine["id"]]
    assert [item["id"] for item in other_user.get(TASKS).get_json()["items"]] == [theirs["id"]]


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_a_write_that_changes_nothing_keeps_updated_at_and_etag(user: User, method: str):
    task = make_task(user, priority="high", status="done")
    before = user.get(f"{TASKS}/{task['id']}")
    same = {"title": "Task", "priority": "high", "status": "done"}
    response = user.request(method, f"{TASKS}/{task['id']}", json=same)
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == task
    assert response.headers["ETag"] == before.headers["ETag"]


def test_head_and_get_answer_304_alike(user: User):
    """Conditional reads live in one place: HEAD behaves as GET, with or without a match."""
    path = f"{TASKS}/{make_task(user)['id']}"
    etag = user.get(path).headers["ETag"]
    for method in ("GET", "HEAD"):
        matched = user.request(method, path, headers={"If-None-Match": etag})
        assert matched.status_code == 304, method
        assert matched.get_data() == b""
        assert matched.headers["ETag"] == etag
        unmatched = user.request(method, path, headers={"If-None-Match": '"other"'})
        assert unmatched.status_code == 200, method
        assert unmatched.headers["ETag"] == etag


def test_a_stale_if_match_answers_412_with_the_current_etag(user: User):
    task = make_task(user)
    path = f"{TASKS}/{task['id']}"
    stale = user.get(path).headers["ETag"]
    now = user.patch(path, json={"title": "Changed"}).headers["ETag"]
    assert now != stale
    refused = user.patch(path, json={"title": "Lost"}, headers={"If-Match": stale})
    assert_problem(refused, 412, "precondition_failed")
    assert refused.headers["ETag"] == now
    assert user.patch(path, json={"title": "Won"}, headers={"If-Match": now}).status_code == 200
