"""Bulk changes (`PATCH /tasks`, `DELETE /tasks?…`) and merge patch (RFC 7396) on every PATCH
(issue 8, "Beyond the core")."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import insert, select

from backend.extensions import db
from backend.models import Task, utcnow
from tests.conftest import User, assert_problem, make_category, make_task

TASKS = "/api/v1/tasks"
CATEGORIES = "/api/v1/categories"
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}
SNAPSHOT_FIELDS = (
    "title",
    "description",
    "status",
    "priority",
    "due_date",
    "category_id",
    "updated_at",
    "completed_at",
)


def get_task(user: User, task_id: int) -> dict[str, Any]:
    response = user.get(f"{TASKS}/{task_id}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def snapshot(user: User, ids: list[int]) -> list[tuple[Any, ...]]:
    """The state of tasks, to prove that a refused request changed nothing."""
    return [tuple(get_task(user, task_id)[name] for name in SNAPSHOT_FIELDS) for task_id in ids]


def titles(user: User) -> list[str]:
    response = user.get(TASKS, query_string={"sort": "title", "limit": 100})
    assert response.status_code == 200
    return [item["title"] for item in response.get_json()["items"]]


def bulk(user: User, ids: list[Any], changes: Any) -> Any:
    return user.patch(TASKS, json={"ids": ids, "changes": changes})


# --- PATCH /tasks ---------------------------------------------------------------------------


def test_bulk_patch_changes_every_listed_task(user: User) -> None:
    tasks = [make_task(user, title=f"T{n}", description="keep") for n in range(3)]
    untouched = make_task(user, title="Untouched")
    ids = [task["id"] for task in tasks]
    etags = [user.get(f"{TASKS}/{task_id}").headers["ETag"] for task_id in ids]

    response = bulk(user, ids, {"priority": "high", "status": "in_progress", "due_date": None})
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json()["updated"] == 3
    items = response.get_json()["items"]
    assert [item["id"] for item in items] == ids
    assert {(item["priority"], item["status"]) for item in items} == {("high", "in_progress")}

    for task, etag in zip(tasks, etags, strict=True):
        now = get_task(user, task["id"])
        assert now["priority"] == "high"
        assert now["status"] == "in_progress"
        assert now["title"] == task["title"]
        assert now["description"] == "keep"
        assert now["completed_at"] is None
        assert now["updated_at"] > task["updated_at"]
        assert user.get(f"{TASKS}/{task['id']}").headers["ETag"] != etag
    assert get_task(user, untouched["id"]) == untouched


def test_bulk_patch_keeps_completed_at_in_step_per_task(user: User) -> None:
    done = make_task(user, title="Done", status="done")
    todo = make_task(user, title="Todo")
    ids = [done["id"], todo["id"]]

    assert bulk(user, ids, {"status": "done"}).get_json()["updated"] == 2
    after_done, after_todo = get_task(user, done["id"]), get_task(user, todo["id"])
    assert after_done["completed_at"] == done["completed_at"]
    assert after_todo["completed_at"] is not None
    assert after_todo["completed_at"] > done["completed_at"]
    assert after_todo["updated_at"] == after_todo["completed_at"]

    assert bulk(user, ids, {"status": "todo"}).get_json()["updated"] == 2
    assert [get_task(user, task_id)["completed_at"] for task_id in ids] == [None, None]


def test_bulk_patch_category_and_its_task_count(user: User) -> None:
    category = make_category(user)
    ids = [make_task(user)["id"] for _ in range(2)]
    assert bulk(user, ids, {"category_id": category["id"]}).get_json()["updated"] == 2
    assert [get_task(user, task_id)["category_id"] for task_id in ids] == [category["id"]] * 2
    assert user.get(f"{CATEGORIES}/{category['id']}").get_json()["task_count"] == 2

    assert bulk(user, ids, {"category_id": None}).get_json()["updated"] == 2
    assert [get_task(user, task_id)["category_id"] for task_id in ids] == [None, None]
    assert user.get(f"{CATEGORIES}/{category['id']}").get_json()["task_count"] == 0


def test_bulk_patch_trims_and_nulls_strings_like_patch(user: User) -> None:
    ids = [make_task(user, description="old")["id"] for _ in range(2)]
    assert bulk(user, ids, {"title": "  Same  ", "description": "   "}).status_code == 200
    for task_id in ids:
        task = get_task(user, task_id)
        assert (task["title"], task["description"]) == ("Same", None)


def test_bulk_patch_counts_duplicate_ids_once(user: User) -> None:
    first, second = make_task(user)["id"], make_task(user)["id"]
    response = bulk(user, [first, second, first, first], {"priority": "low"})
    assert response.get_json()["updated"] == 2
    assert get_task(user, first)["priority"] == "low"


def test_bulk_patch_with_empty_changes_changes_nothing(user: User) -> None:
    ids = [make_task(user)["id"] for _ in range(2)]
    before = snapshot(user, ids)
    assert bulk(user, ids, {}).get_json()["updated"] == 2
    assert snapshot(user, ids) == before


def insert_tasks(app: Flask, user_id: int, count: int) -> list[int]:
    now = utcnow()
    rows = [
        {"user_id": user_id, "title": f"Bulk {n}", "created_at": now, "updated_at": now}
        for n in range(count)
    ]
    with app.app_context():
        db.session.execute(insert(Task), rows)
        db.session.commit()
        return list(db.session.scalars(select(Task.id).where(Task.user_id == user_id)))


def test_bulk_patch_takes_up_to_100_ids(app: Flask, user: User) -> None:
    ids = insert_tasks(app, user.id, 101)
    assert bulk(user, ids[:100], {"status": "done"}).get_json()["updated"] == 100
    done = user.get(TASKS, query_string={"status": "done", "limit": 1}).get_json()
    assert done["total"] == 100

    problem = assert_problem(bulk(user, ids, {"status": "todo"}), 400, "validation_error")
    assert "ids" in problem["errors"]
    assert user.get(TASKS, query_string={"status": "done"}).get_json()["total"] == 100


def test_bulk_patch_missing_id_changes_nothing(user: User) -> None:
    ids = [make_task(user)["id"] for _ in range(2)]
    before = snapshot(user, ids)
    response = bulk(user, [ids[0], 999_999, ids[1]], {"title": "Changed", "status": "done"})
    problem = assert_problem(response, 400, "validation_error")
    assert set(problem["errors"]) == {"ids"}
    assert "999999" in " ".join(problem["errors"]["ids"])
    assert snapshot(user, ids) == before


def test_bulk_patch_another_users_id_is_forbidden_and_changes_nothing(
    user: User, other_user: User
) -> None:
    mine = [make_task(user)["id"] for _ in range(2)]
    theirs = make_task(other_user, title="Theirs")
    before_mine, before_theirs = snapshot(user, mine), snapshot(other_user, [theirs["id"]])
    response = bulk(user, [*mine, theirs["id"]], {"title": "Hijacked", "status": "done"})
    assert_problem(response, 403, "forbidden")
    assert snapshot(user, mine) == before_mine
    assert snapshot(other_user, [theirs["id"]]) == before_theirs


def test_bulk_patch_missing_id_wins_over_foreign_id(user: User, other_user: User) -> None:
    theirs = make_task(other_user)["id"]
    problem = assert_problem(
        bulk(user, [theirs, 999_999], {"priority": "low"}), 400, "validation_error"
    )
    assert "ids" in problem["errors"]


@pytest.mark.parametrize(
    ("changes", "status", "code"),
    [
        ({"category_id": 999_999}, 400, "validation_error"),
        ({"category_id": 2_147_483_648}, 400, "validation_error"),
    ],
)
def test_bulk_patch_unknown_category(
    user: User, changes: dict[str, Any], status: int, code: str
) -> None:
    ids = [make_task(user)["id"] for _ in range(2)]
    before = snapshot(user, ids)
    problem = assert_problem(bulk(user, ids, changes), status, code)
    assert set(problem["errors"]) == {"changes.category_id"}
    assert snapshot(user, ids) == before


def test_bulk_patch_another_users_category_is_forbidden(user: User, other_user: User) -> None:
    theirs = make_category(other_user)
    ids = [make_task(user)["id"] for _ in range(2)]
    before = snapshot(user, ids)
    assert_problem(bulk(user, ids, {"category_id": theirs["id"]}), 403, "forbidden")
    assert snapshot(user, ids) == before
    assert other_user.get(f"{CATEGORIES}/{theirs['id']}").get_json()["task_count"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"changes": {"title": "X"}}, "ids"),
        ({"ids": None, "changes": {"title": "X"}}, "ids"),
        ({"ids": [], "changes": {"title": "X"}}, "ids"),
        ({"ids": "1", "changes": {"title": "X"}}, "ids"),
        ({"ids": 1, "changes": {"title": "X"}}, "ids"),
        ({"ids": ["1"], "changes": {"title": "X"}}, "ids"),
        ({"ids": [1.5], "changes": {"title": "X"}}, "ids"),
        ({"ids": [True], "changes": {"title": "X"}}, "ids"),
        ({"ids": [None], "changes": {"title": "X"}}, "ids"),
        ({"ids": [0], "changes": {"title": "X"}}, "ids"),
        ({"ids": [-1], "changes": {"title": "X"}}, "ids"),
        ({"ids": [2**31], "changes": {"title": "X"}}, "ids"),
        ({"ids": "SELF"}, "changes"),
        ({"ids": "SELF", "changes": None}, "changes"),
        ({"ids": "SELF", "changes": []}, "changes"),
        ({"ids": "SELF", "changes": "title=X"}, "changes"),
        ({"ids": "SELF", "changes": {"title": None}}, "changes.title"),
        ({"ids": "SELF", "changes": {"title": "  "}}, "changes.title"),
        ({"ids": "SELF", "changes": {"title": "x" * 201}}, "changes.title"),
        ({"ids": "SELF", "changes": {"title": 5}}, "changes.title"),
        ({"ids": "SELF", "changes": {"title": "A\x00B"}}, "changes.title"),
        ({"ids": "SELF", "changes": {"description": "x" * 10_001}}, "changes.description"),
        ({"ids": "SELF", "changes": {"description": "bad\x07"}}, "changes.description"),
        ({"ids": "SELF", "changes": {"status": "finished"}}, "changes.status"),
        ({"ids": "SELF", "changes": {"status": None}}, "changes.status"),
        ({"ids": "SELF", "changes": {"priority": "urgent"}}, "changes.priority"),
        ({"ids": "SELF", "changes": {"priority": 3}}, "changes.priority"),
        ({"ids": "SELF", "changes": {"priority": None}}, "changes.priority"),
        ({"ids": "SELF", "changes": {"due_date": "tomorrow"}}, "changes.due_date"),
        ({"ids": "SELF", "changes": {"due_date": "2026-02-30"}}, "changes.due_date"),
        ({"ids": "SELF", "changes": {"category_id": "1"}}, "changes.category_id"),
        ({"ids": "SELF", "changes": {"category_id": True}}, "changes.category_id"),
        ({"ids": "SELF", "changes": {"id": 1}}, "changes.id"),
        ({"ids": "SELF", "changes": {"user_id": 1}}, "changes.user_id"),
        ({"ids": "SELF", "changes": {"completed_at": None}}, "changes.completed_at"),
        ({"ids": "SELF", "changes": {"created_at": "2026-01-01T00:00:00Z"}}, "changes.created_at"),
        ({"ids": "SELF", "changes": {"title": "X"}, "force": True}, "force"),
    ],
)
def test_bulk_patch_validation(user: User, body: dict[str, Any], field: str) -> None:
    ids = [make_task(user, description="d")["id"] for _ in range(2)]
    before = snapshot(user, ids)
    if body.get("ids") == "SELF":
        body = {**body, "ids": ids}
    problem = assert_problem(user.patch(TASKS, json=body), 400, "validation_error")
    assert field in problem["errors"], problem["errors"]
    assert snapshot(user, ids) == before


def test_bulk_patch_body_errors(user: User) -> None:
    task_id = make_task(user)["id"]
    assert_problem(user.patch(TASKS, json=[task_id]), 400, "validation_error")
    response = user.patch(TASKS, data='{"ids": [', headers={"Content-Type": "application/json"})
    assert_problem(response, 400, "invalid_json")
    response = user.patch(
        TASKS, data='{"ids": [1], "changes": {}}', headers={"Content-Type": "text/plain"}
    )
    assert_problem(response, 415, "unsupported_media_type")
    assert_problem(user.patch(TASKS), 400, "validation_error")


def test_bulk_patch_accepts_merge_patch(user: User) -> None:
    ids = [make_task(user, description="old", due_date="2026-12-01")["id"] for _ in range(2)]
    response = user.patch(
        TASKS,
        data=f'{{"ids": {ids}, "changes": {{"description": null, "due_date": null}}}}',
        headers=MERGE_PATCH,
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["updated"] == 2
    for task_id in ids:
        task = get_task(user, task_id)
        assert (task["description"], task["due_date"]) == (None, None)


def test_bulk_patch_needs_an_access_token(client: Any, user: User) -> None:
    task_id = make_task(user)["id"]
    body = {"ids": [task_id], "changes": {"title": "X"}}
    assert_problem(client.patch(TASKS, json=body), 401, "token_missing")
    response = client.patch(
        TASKS, json=body, headers={"Authorization": f"Bearer {user.refresh_token}"}
    )
    assert_problem(response, 401, "token_invalid")
    assert get_task(user, task_id)["title"] == "Task"


# --- DELETE /tasks?filters ------------------------------------------------------------------


def test_bulk_delete_done_tasks(user: User, other_user: User) -> None:
    done = [make_task(user, title=f"Done {n}", status="done")["id"] for n in range(3)]
    make_task(user, title="Open")
    make_task(user, title="Busy", status="in_progress")
    make_task(other_user, title="Theirs done", status="done")

    response = user.delete(TASKS, query_string={"status": "done"})
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == {"deleted": 3}
    assert titles(user) == ["Busy", "Open"]
    assert titles(other_user) == ["Theirs done"]
    for task_id in done:
        assert_problem(user.get(f"{TASKS}/{task_id}"), 404, "not_found")

    # Nothing left to delete: still a success.
    assert user.delete(TASKS, query_string={"status": "done"}).get_json() == {"deleted": 0}


@pytest.fixture
def varied(user: User) -> dict[str, int]:
    """Tasks that differ in every filterable way; returns the category ids by name."""
    work = make_category(user, "Work")["id"]
    home = make_category(user, "Home")["id"]
    make_task(user, title="A", status="todo", priority="low", category_id=work)
    make_task(user, title="B", status="in_progress", priority="high", due_date="2026-01-10")
    make_task(user, title="C", status="done", priority="medium", due_date="2026-03-10")
    make_task(user, title="D", description="needle here", category_id=home)
    return {"work": work, "home": home}


@pytest.mark.parametrize(
    ("query", "left"),
    [
        ({"status": "todo,in_progress"}, ["C"]),
        ({"status": "in_progress"}, ["A", "C", "D"]),
        ({"priority": "low,high"}, ["C", "D"]),
        ({"category_id": "none"}, ["A", "D"]),
        ({"category_id": "WORK"}, ["B", "C", "D"]),
        ({"due_before": "2026-02-01"}, ["A", "C", "D"]),
        ({"due_after": "2026-02-01"}, ["A", "B", "D"]),
        ({"q": "NEEDLE"}, ["A", "B", "C"]),
        ({"q": "c"}, ["A", "B", "D"]),
        ({"status": "todo", "priority": "medium"}, ["A", "B", "C"]),
        ({"updated_after": "2000-01-01T00:00:00Z"}, []),
        ({"updated_after": "2999-01-01T00:00:00Z"}, ["A", "B", "C", "D"]),
    ],
)
def test_bulk_delete_filters(
    user: User, varied: dict[str, int], query: dict[str, str], left: list[str]
) -> None:
    if query.get("category_id") == "WORK":
        query = {**query, "category_id": str(varied["work"])}
    response = user.delete(TASKS, query_string=query)
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"deleted": 4 - len(left)}
    assert titles(user) == left


def test_bulk_delete_updates_task_count(user: User, varied: dict[str, int]) -> None:
    category = f"{CATEGORIES}/{varied['work']}"
    assert user.get(category).get_json()["task_count"] == 1
    assert user.delete(TASKS, query_string={"priority": "low"}).get_json() == {"deleted": 1}
    assert user.get(category).get_json()["task_count"] == 0


@pytest.mark.parametrize(
    "query",
    [{}, {"limit": "5"}, {"offset": "0"}, {"sort": "title"}, {"everything": "yes"}, {"q": "  "}],
)
def test_bulk_delete_needs_a_filter(user: User, query: dict[str, str]) -> None:
    make_task(user, status="done")
    problem = assert_problem(user.delete(TASKS, query_string=query), 400, "validation_error")
    assert problem["errors"]
    assert len(titles(user)) == 1


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ({"status": "finished"}, "status"),
        ({"status": ""}, "status"),
        ({"priority": "urgent"}, "priority"),
        ({"category_id": "abc"}, "category_id"),
        ({"category_id": "999999"}, "category_id"),
        ({"due_before": "tomorrow"}, "due_before"),
        ({"due_after": "2026-13-01"}, "due_after"),
        ({"updated_after": "yesterday"}, "updated_after"),
        ({"updated_after": "2026-01-01T00:00:00"}, "updated_after"),
    ],
)
def test_bulk_delete_bad_filter(user: User, query: dict[str, str], parameter: str) -> None:
    make_task(user, status="done", title="Survivor")
    problem = assert_problem(user.delete(TASKS, query_string=query), 400, "validation_error")
    assert parameter in problem["errors"]
    assert titles(user) == ["Survivor"]


def test_bulk_delete_ignores_page_and_sort_parameters(user: User) -> None:
    """`DELETE /tasks` takes the filters only: `limit` must not delete just a page."""
    for n in range(3):
        make_task(user, priority="low", title=f"Low {n}")
    make_task(user, priority="high", title="Keep")
    query = {"priority": "low", "limit": "2", "offset": "1", "sort": "bogus"}
    assert user.delete(TASKS, query_string=query).get_json() == {"deleted": 3}
    assert titles(user) == ["Keep"]


def test_bulk_delete_another_users_category_is_forbidden(user: User, other_user: User) -> None:
    theirs = make_category(other_user)["id"]
    make_task(other_user, category_id=theirs)
    make_task(user, title="Mine")
    response = user.delete(TASKS, query_string={"category_id": str(theirs)})
    assert_problem(response, 403, "forbidden")
    assert titles(user) == ["Mine"]
    assert titles(other_user) == ["Task"]


def test_bulk_delete_needs_an_access_token(client: Any, user: User) -> None:
    make_task(user, status="done")
    assert_problem(client.delete(TASKS, query_string={"status": "done"}), 401, "token_missing")
    response = client.delete(
        TASKS,
        query_string={"status": "done"},
        headers={"Authorization": f"Bearer {user.refresh_token}"},
    )
    assert_problem(response, 401, "token_invalid")
    assert len(titles(user)) == 1


# --- Merge patch on PATCH /tasks/{id} and PATCH /categories/{id} ------------------------------


def merge_patch(user: User, path: str, data: str, content_type: str | None = None) -> Any:
    headers = {"Content-Type": content_type} if content_type else MERGE_PATCH
    return user.patch(path, data=data, headers=headers)


@pytest.mark.parametrize("content_type", [None, "application/merge-patch+json; charset=utf-8"])
def test_merge_patch_task_clears_nullable_fields(user: User, content_type: str | None) -> None:
    category = make_category(user)
    task = make_task(
        user,
        title="Full",
        description="words",
        due_date="2026-12-01",
        category_id=category["id"],
        priority="high",
        status="in_progress",
    )
    body = '{"description": null, "due_date": null, "category_id": null, "title": "Trimmed "}'
    response = merge_patch(user, f"{TASKS}/{task['id']}", body, content_type)
    assert response.status_code == 200, response.get_json()
    patched = response.get_json()
    assert patched["description"] is None
    assert patched["due_date"] is None
    assert patched["category_id"] is None
    assert patched["title"] == "Trimmed"
    assert (patched["priority"], patched["status"]) == ("high", "in_progress")
    assert response.headers["ETag"] == user.get(f"{TASKS}/{task['id']}").headers["ETag"]
    assert get_task(user, task["id"]) == patched


@pytest.mark.parametrize("field", ["title", "status", "priority"])
def test_merge_patch_task_refuses_null_for_required_fields(user: User, field: str) -> None:
    task = make_task(user, description="kept")
    body = f'{{"{field}": null, "description": null}}'
    response = merge_patch(user, f"{TASKS}/{task['id']}", body)
    problem = assert_problem(response, 400, "validation_error")
    assert set(problem["errors"]) == {field}
    assert get_task(user, task["id"]) == task


def test_merge_patch_task_status_change_keeps_completed_at_rule(user: User) -> None:
    task = make_task(user)
    done = merge_patch(user, f"{TASKS}/{task['id']}", '{"status": "done"}').get_json()
    assert done["completed_at"] is not None
    todo = merge_patch(user, f"{TASKS}/{task['id']}", '{"status": "todo"}').get_json()
    assert todo["completed_at"] is None


def test_merge_patch_category(user: User) -> None:
    category = make_category(user, "Work", color="#1E90FF")
    path = f"{CATEGORIES}/{category['id']}"
    response = merge_patch(user, path, '{"color": null}')
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["color"] is None
    assert response.get_json()["name"] == "Work"
    assert user.get(path).get_json()["color"] is None

    problem = assert_problem(merge_patch(user, path, '{"name": null}'), 400, "validation_error")
    assert set(problem["errors"]) == {"name"}
    assert user.get(path).get_json()["name"] == "Work"


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        ("{", 400, "invalid_json"),
        ("[]", 400, "validation_error"),
        ("null", 400, "validation_error"),
        ('{"id": 5}', 400, "validation_error"),
    ],
)
def test_merge_patch_body_errors(user: User, data: str, status: int, code: str) -> None:
    task = make_task(user)
    assert_problem(merge_patch(user, f"{TASKS}/{task['id']}", data), status, code)
    assert get_task(user, task["id"]) == task


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", TASKS), ("PUT", f"{TASKS}/ID"), ("POST", CATEGORIES), ("PUT", f"{CATEGORIES}/CID")],
)
def test_merge_patch_only_on_patch(user: User, method: str, path: str) -> None:
    task = make_task(user)
    category = make_category(user)
    path = path.replace("CID", str(category["id"])).replace("ID", str(task["id"]))
    response = user.request(method, path, data='{"title": "X", "name": "Y"}', headers=MERGE_PATCH)
    assert_problem(response, 415, "unsupported_media_type")
    assert get_task(user, task["id"]) == task
