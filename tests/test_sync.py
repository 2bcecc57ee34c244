"""Incremental sync: `GET /tasks?updated_after=<RFC 3339 time>` (issue 8, "Beyond the core")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from sqlalchemy import update

from backend.extensions import db
from backend.models import Task
from tests.conftest import User, assert_problem, make_task

TASKS = "/api/v1/tasks"
BASE = datetime(2026, 11, 25, 12, 0, 0, 500_000, tzinfo=UTC)


def changed_after(user: User, moment: str, **params: str) -> dict[str, Any]:
    response = user.get(TASKS, query_string={"updated_after": moment, **params})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def titles_after(user: User, moment: str, **params: str) -> list[str]:
    return [item["title"] for item in changed_after(user, moment, **params)["items"]]


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def set_updated_at(app: Flask, times: dict[int, datetime]) -> None:
    """Pin tasks' `updated_at` (and `created_at`, which must not be later) to known times."""
    with app.app_context():
        for task_id, moment in times.items():
            db.session.execute(
                update(Task)
                .where(Task.id == task_id)
                .values(updated_at=moment, created_at=moment - timedelta(days=1))
            )
        db.session.commit()


@pytest.fixture
def timeline(app: Flask, user: User) -> dict[str, int]:
    """Tasks changed at known moments, to the microsecond, in an order unlike their ids."""
    ids = {title: make_task(user, title=title)["id"] for title in ("A", "B", "C", "D")}
    set_updated_at(
        app,
        {
            ids["A"]: BASE + timedelta(seconds=30),
            ids["B"]: BASE,
            ids["C"]: BASE + timedelta(microseconds=1),
            ids["D"]: BASE - timedelta(microseconds=1),
        },
    )
    return ids


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (BASE - timedelta(days=1), ["D", "B", "C", "A"]),
        (BASE - timedelta(microseconds=1), ["B", "C", "A"]),
        (BASE, ["C", "A"]),
        (BASE + timedelta(microseconds=1), ["A"]),
        (BASE + timedelta(seconds=30), []),
        (BASE + timedelta(days=365), []),
    ],
)
def test_updated_after_is_strict_and_oldest_change_first(
    user: User, timeline: dict[str, int], moment: datetime, expected: list[str]
) -> None:
    page = changed_after(user, rfc3339(moment))
    assert [item["title"] for item in page["items"]] == expected
    assert page["total"] == len(expected)


@pytest.mark.parametrize(
    "written",
    [
        "2026-11-25T12:00:00.500000Z",
        "2026-11-25T12:00:00.5Z",
        "2026-11-25t12:00:00.500000z",
        "2026-11-25T12:00:00.500000+00:00",
        "2026-11-25T14:00:00.500000+02:00",
        "2026-11-25T07:30:00.500000-04:30",
    ],
)
def test_updated_after_accepts_any_offset(
    user: User, timeline: dict[str, int], written: str
) -> None:
    assert titles_after(user, written) == ["C", "A"]


def test_updated_after_honours_an_explicit_sort(user: User, timeline: dict[str, int]) -> None:
    moment = rfc3339(BASE - timedelta(days=1))
    assert titles_after(user, moment, sort="-updated_at") == ["A", "C", "B", "D"]
    assert titles_after(user, moment, sort="title") == ["A", "B", "C", "D"]
    assert titles_after(user, moment, sort="-title") == ["D", "C", "B", "A"]


def test_updated_after_combines_with_filters_and_pages(
    user: User, timeline: dict[str, int]
) -> None:
    moment = rfc3339(BASE - timedelta(days=1))
    response = user.patch(
        TASKS, json={"ids": [timeline["A"], timeline["D"]], "changes": {"priority": "high"}}
    )
    assert response.status_code == 200
    # The bulk change moved A's and D's updated_at past every other one.
    assert titles_after(user, moment) == ["B", "C", "A", "D"]
    assert titles_after(user, moment, priority="high") == ["A", "D"]

    response = user.get(TASKS, query_string={"updated_after": moment, "limit": 2, "offset": 0})
    assert response.status_code == 200
    page = response.get_json()
    assert [item["title"] for item in page["items"]] == ["B", "C"]
    assert page["total"] == 4
    links = {
        part.split('rel="')[1].rstrip('"'): part.split(">")[0].lstrip("<")
        for part in response.headers["Link"].split(", ")
    }
    following = parse_qs(urlsplit(links["next"]).query)
    assert following["updated_after"] == [moment]
    assert following["offset"] == ["2"]
    second = user.get(TASKS, query_string={k: v[0] for k, v in following.items()}).get_json()
    assert [item["title"] for item in second["items"]] == ["A", "D"]


def test_every_kind_of_change_shows_up(user: User) -> None:
    category = user.post("/api/v1/categories", json={"name": "Work"}).get_json()
    edited = make_task(user, title="Edited")
    completed = make_task(user, title="Completed")
    detached = make_task(user, title="Detached", category_id=category["id"])
    make_task(user, title="Quiet")
    removed = make_task(user, title="Removed")
    mark = max(
        task["updated_at"]
        for task in user.get(TASKS, query_string={"limit": 100}).get_json()["items"]
    )
    assert titles_after(user, mark) == []

    assert user.patch(f"{TASKS}/{edited['id']}", json={"title": "Edited!"}).status_code == 200
    response = user.put(f"{TASKS}/{completed['id']}", json={"title": "Completed", "status": "done"})
    assert response.status_code == 200
    assert user.delete(f"/api/v1/categories/{category['id']}").status_code == 204
    assert user.delete(f"{TASKS}/{removed['id']}").status_code == 204
    created = make_task(user, title="Created")

    page = changed_after(user, mark)
    assert [item["title"] for item in page["items"]] == [
        "Edited!",
        "Completed",
        "Detached",
        "Created",
    ]
    by_title = {item["title"]: item for item in page["items"]}
    assert by_title["Detached"]["id"] == detached["id"]
    assert by_title["Detached"]["category_id"] is None
    assert by_title["Completed"]["completed_at"] == by_title["Completed"]["updated_at"]
    assert by_title["Created"]["id"] == created["id"]
    # The newest change is the next sync's mark: nothing is changed after it.
    assert titles_after(user, page["items"][-1]["updated_at"]) == []


def test_updated_after_sees_only_the_users_tasks(user: User, other_user: User) -> None:
    make_task(user, title="Mine")
    make_task(other_user, title="Theirs")
    assert titles_after(user, "2000-01-01T00:00:00Z") == ["Mine"]
    assert titles_after(other_user, "2000-01-01T00:00:00Z") == ["Theirs"]


@pytest.mark.parametrize(
    "value",
    [
        "",
        "yesterday",
        "2026-11-25",
        "2026-11-25T12:00:00",
        "2026-11-25T12:00:00.123456",
        "2026-13-01T00:00:00Z",
        "2026-02-30T00:00:00Z",
        "2026-11-25T25:00:00Z",
        "2026-11-25T12:61:00Z",
        "2026-11-25T12:00:00+25:00",
        "2026-11-25 12:00:00 UTC",
        "1764072000",
        "Z",
    ],
)
def test_updated_after_must_be_an_rfc3339_time(user: User, value: str) -> None:
    make_task(user)
    response = user.get(TASKS, query_string={"updated_after": value})
    problem = assert_problem(response, 400, "validation_error")
    assert set(problem["errors"]) == {"updated_after"}


def test_updated_after_needs_an_access_token(client: Any, user: User) -> None:
    make_task(user)
    response = client.get(TASKS, query_string={"updated_after": "2000-01-01T00:00:00Z"})
    assert_problem(response, 401, "token_missing")


def test_a_time_in_a_far_offset_is_converted_not_truncated(user: User, app: Flask) -> None:
    task = make_task(user, title="Late")
    moment = datetime(2026, 11, 25, 23, 30, tzinfo=UTC)
    set_updated_at(app, {task["id"]: moment})
    # 2026-11-26T08:29+09:00 is 23:29 UTC on the 25th: just before the change.
    tokyo = timezone(timedelta(hours=9))
    before = (moment - timedelta(minutes=1)).astimezone(tokyo).isoformat()
    after = (moment + timedelta(minutes=1)).astimezone(tokyo).isoformat()
    assert before.startswith("2026-11-26T08:29")
    assert titles_after(user, before) == ["Late"]
    assert titles_after(user, after) == []


# ISO 8601 forms that RFC 3339 does not allow. These fail today: `UTCTime` (fields.py, not
# owned here) parses with `datetime.fromisoformat`, which accepts all of them.
@pytest.mark.parametrize(
    "value",
    [
        "20261125T120000Z",
        "2026-11-25T12:00Z",
        "2026-11-25T12Z",
        "2026-W48-3T12:00:00Z",
        "2026-11-25T12:00:00+0200",
        "2026-11-25T12:00:00,5Z",
    ],
)
def test_updated_after_refuses_iso_forms_that_are_not_rfc3339(user: User, value: str) -> None:
    response = user.get(TASKS, query_string={"updated_after": value})
    problem = assert_problem(response, 400, "validation_error")
    assert set(problem["errors"]) == {"updated_after"}
