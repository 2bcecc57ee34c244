"""Categories: every route, name uniqueness, `task_count`, ETags, and deletion keeping tasks."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest

from tests.conftest import User, assert_problem, make_category, make_task

CATEGORIES = "/api/v1/categories"
TASKS = "/api/v1/tasks"
TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
CATEGORY_FIELDS = {"id", "name", "color", "task_count", "created_at", "updated_at"}
ITEM_METHODS = ("GET", "PUT", "PATCH", "DELETE")
VALID_BODY: dict[str, dict[str, Any]] = {
    "GET": {},
    "PUT": {"json": {"name": "Replaced"}},
    "PATCH": {"json": {"name": "Patched"}},
    "DELETE": {},
}


def parse_time(value: str) -> datetime:
    assert TIME.fullmatch(value), value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def call(user: User, method: str, path: str, **kwargs: Any) -> Any:
    return getattr(user, method.lower())(path, **kwargs)


def current(user: User, category_id: int) -> tuple[dict[str, Any], str]:
    response = user.get(f"{CATEGORIES}/{category_id}")
    assert response.status_code == 200
    return response.get_json(), response.headers["ETag"]


# --- success of each route ---------------------------------------------------------------


def test_create_category(user: User):
    response = user.post(CATEGORIES, json={"name": "  Work  ", "color": "#1E90FF"})
    assert response.status_code == 201
    category = response.get_json()
    assert set(category) == CATEGORY_FIELDS
    assert category["name"] == "Work"
    assert category["color"] == "#1E90FF"
    assert category["task_count"] == 0
    assert parse_time(category["created_at"]) == parse_time(category["updated_at"])
    assert response.headers["Location"].endswith(f"{CATEGORIES}/{category['id']}")
    etag = response.headers["ETag"]
    fetched = user.get(response.headers["Location"])
    assert fetched.status_code == 200
    assert fetched.get_json() == category
    assert fetched.headers["ETag"] == etag


def test_create_category_without_color(user: User):
    category = make_category(user, "Home")
    assert category["color"] is None
    assert make_category(user, "Blank", color="   ")["color"] is None


def test_get_category(user: User):
    category = make_category(user)
    response = user.get(f"{CATEGORIES}/{category['id']}")
    assert response.status_code == 200
    assert response.get_json() == category
    assert response.headers["ETag"]


def test_put_replaces_name_and_color(user: User):
    category = make_category(user, "Work", color="#000000")
    response = user.put(f"{CATEGORIES}/{category['id']}", json={"name": "Job"})
    assert response.status_code == 200
    replaced = response.get_json()
    assert replaced == {
        **category,
        "name": "Job",
        "color": None,
        "updated_at": replaced["updated_at"],
    }
    assert parse_time(replaced["updated_at"]) > parse_time(category["updated_at"])
    assert current(user, category["id"]) == (replaced, response.headers["ETag"])


def test_put_requires_name(user: User):
    category = make_category(user)
    response = user.put(f"{CATEGORIES}/{category['id']}", json={"color": "#FFFFFF"})
    body = assert_problem(response, 400, "validation_error")
    assert "name" in body["errors"]
    assert current(user, category["id"])[0] == category


def test_patch_changes_only_given_fields(user: User):
    category = make_category(user, "Work", color="#000000")
    path = f"{CATEGORIES}/{category['id']}"
    renamed = user.patch(path, json={"name": "Job"}).get_json()
    assert renamed == {**category, "name": "Job", "updated_at": renamed["updated_at"]}
    recolored = user.patch(path, json={"color": "#abcdef"}).get_json()
    assert recolored == {**renamed, "color": "#abcdef", "updated_at": recolored["updated_at"]}
    assert parse_time(recolored["updated_at"]) > parse_time(renamed["updated_at"])
    cleared = user.patch(path, json={"color": None}).get_json()
    assert cleared["color"] is None
    assert cleared["name"] == "Job"


def test_patch_can_change_only_the_case_of_the_name(user: User):
    category = make_category(user, "work")
    response = user.patch(f"{CATEGORIES}/{category['id']}", json={"name": "WORK"})
    assert response.status_code == 200
    assert response.get_json()["name"] == "WORK"


def test_delete_category_then_get_is_404(user: User):
    category = make_category(user)
    path = f"{CATEGORIES}/{category['id']}"
    response = user.delete(path)
    assert response.status_code == 204
    assert response.get_data() == b""
    assert_problem(user.get(path), 404, "not_found")
    assert user.get(CATEGORIES).get_json()["total"] == 0


def test_delete_category_keeps_its_tasks_uncategorized(user: User):
    category = make_category(user)
    other = make_category(user, "Other")
    inside = [make_task(user, title=f"in {n}", category_id=category["id"]) for n in range(3)]
    outside = make_task(user, title="elsewhere", category_id=other["id"])
    etags = {task["id"]: user.get(f"{TASKS}/{task['id']}").headers["ETag"] for task in inside}

    assert user.delete(f"{CATEGORIES}/{category['id']}").status_code == 204

    for task in inside:
        response = user.get(f"{TASKS}/{task['id']}")
        assert response.status_code == 200
        after = response.get_json()
        assert after["category_id"] is None
        assert after["title"] == task["title"]
        assert parse_time(after["updated_at"]) > parse_time(task["updated_at"])
        assert response.headers["ETag"] != etags[task["id"]]
        stale = user.patch(
            f"{TASKS}/{task['id']}", json={"title": "x"}, headers={"If-Match": etags[task["id"]]}
        )
        assert_problem(stale, 412, "precondition_failed")
    assert user.get(f"{TASKS}/{outside['id']}").get_json() == outside
    assert user.get(f"{TASKS}?category_id=none").get_json()["total"] == 3


def test_task_count(user: User, other_user: User):
    work = make_category(user, "Work")
    home = make_category(user, "Home")
    tasks = [make_task(user, category_id=work["id"]) for _ in range(3)]
    make_task(user, category_id=home["id"])
    make_task(user)
    make_task(other_user)
    assert current(user, work["id"])[0]["task_count"] == 3
    assert current(user, home["id"])[0]["task_count"] == 1

    user.patch(f"{TASKS}/{tasks[0]['id']}", json={"category_id": home["id"]})
    user.delete(f"{TASKS}/{tasks[1]['id']}")
    assert current(user, work["id"])[0]["task_count"] == 1
    assert current(user, home["id"])[0]["task_count"] == 2
    listed = {item["name"]: item["task_count"] for item in user.get(CATEGORIES).get_json()["items"]}
    assert listed == {"Home": 2, "Work": 1}


# --- errors ------------------------------------------------------------------------------


def test_every_route_needs_a_token(client, user: User):
    make_category(user)
    routes = [("GET", CATEGORIES), ("POST", CATEGORIES)]
    routes += [(method, f"{CATEGORIES}/1") for method in ITEM_METHODS]
    for method, path in routes:
        response = client.open(path, method=method, json={"name": "x"})
        assert_problem(response, 401, "token_missing")
    assert [item["name"] for item in user.get(CATEGORIES).get_json()["items"]] == ["Work"]


BAD_IDS = ["999", "abc", "0", "-1", "2147483648", "99999999999"]


@pytest.mark.parametrize("method", ITEM_METHODS)
def test_unknown_or_malformed_id_is_404(user: User, method: str):
    make_category(user)
    for category_id in BAD_IDS:
        response = call(user, method, f"{CATEGORIES}/{category_id}", **VALID_BODY[method])
        assert response.status_code == 404, (category_id, response.status_code)
        assert_problem(response, 404, "not_found")


@pytest.mark.parametrize("method", ITEM_METHODS)
def test_another_users_category_is_403_and_unchanged(user: User, other_user: User, method: str):
    category = make_category(other_user, "Theirs")
    task = make_task(other_user, category_id=category["id"])
    before = current(other_user, category["id"])
    response = call(user, method, f"{CATEGORIES}/{category['id']}", **VALID_BODY[method])
    assert_problem(response, 403, "forbidden")
    assert current(other_user, category["id"]) == before
    assert other_user.get(f"{TASKS}/{task['id']}").get_json() == task


def test_duplicate_name_ignoring_case_is_409(user: User):
    make_category(user, "Work")
    make_category(user, "Straße")
    for taken in ("Work", "work", "WORK", "  wOrK ", "STRASSE", "straße"):
        response = user.post(CATEGORIES, json={"name": taken})
        assert response.status_code == 409, taken
        assert_problem(response, 409, "category_exists")
    assert user.get(CATEGORIES).get_json()["total"] == 2


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_rename_to_a_taken_name_is_409_and_unchanged(user: User, method: str):
    make_category(user, "Work")
    home = make_category(user, "Home")
    before = current(user, home["id"])
    response = call(user, method, f"{CATEGORIES}/{home['id']}", json={"name": "WORK"})
    assert_problem(response, 409, "category_exists")
    assert current(user, home["id"]) == before


def test_other_users_may_reuse_a_name(user: User, other_user: User):
    mine = make_category(user, "Work")
    theirs = make_category(other_user, "work")
    assert mine["id"] != theirs["id"]
    assert [item["name"] for item in other_user.get(CATEGORIES).get_json()["items"]] == ["work"]


def test_a_deleted_name_can_be_reused(user: User):
    category = make_category(user, "Work")
    user.delete(f"{CATEGORIES}/{category['id']}")
    assert make_category(user, "work")["name"] == "work"


# --- ETags ---------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_stale_if_match_is_412_and_changes_nothing(user: User, method: str):
    category = make_category(user)
    path = f"{CATEGORIES}/{category['id']}"
    stale = current(user, category["id"])[1]
    user.patch(path, json={"color": "#111111"})
    before = current(user, category["id"])
    assert before[1] != stale
    response = call(user, method, path, headers={"If-Match": stale}, **VALID_BODY[method])
    assert_problem(response, 412, "precondition_failed")
    assert current(user, category["id"]) == before


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_matching_if_match_succeeds(user: User, method: str):
    for n, header in enumerate(["{etag}", "*"]):
        category = make_category(user, f"Work {n}")
        path = f"{CATEGORIES}/{category['id']}"
        etag = current(user, category["id"])[1]
        body = {"json": {"name": f"Renamed {n}"}} if method != "DELETE" else {}
        response = call(user, method, path, headers={"If-Match": header.format(etag=etag)}, **body)
        if method == "DELETE":
            assert response.status_code == 204
            assert user.get(path).status_code == 404
        else:
            assert response.status_code == 200
            assert current(user, category["id"]) == (response.get_json(), response.headers["ETag"])


def test_if_none_match_is_304(user: User):
    category = make_category(user)
    path = f"{CATEGORIES}/{category['id']}"
    etag = current(user, category["id"])[1]
    response = user.get(path, headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.get_data() == b""
    user.patch(path, json={"name": "Changed"})
    response = user.get(path, headers={"If-None-Match": etag})
    assert response.status_code == 200
    assert response.get_json()["name"] == "Changed"
