"""The response cache: reads of unchanged data cost one query, and are never stale."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from flask import Flask, Response
from sqlalchemy import text

from backend.cache import ResponseCache
from backend.extensions import db
from tests.conftest import AppFactory, AuthActions, User, recorded_statements

API = "/api/v1"
TASKS = f"{API}/tasks"


def _titles(response: Any) -> list[str]:
    return [item["title"] for item in response.get_json()["items"]]


def test_a_repeated_read_costs_only_the_session_check(app: Flask, user: User):
    user.post(TASKS, json={"title": "one"})
    first = user.get(TASKS)
    with recorded_statements(app) as statements:
        again = user.get(TASKS)
    assert len(statements) == 1  # the session check, which also reads the data version
    assert again.get_data() == first.get_data()
    assert again.headers["Link"] == first.headers["Link"]


@pytest.mark.parametrize("path", [TASKS, f"{API}/categories", f"{TASKS}/1", f"{API}/categories/1"])
def test_every_write_is_seen_by_the_next_read(user: User, path: str):
    user.post(f"{API}/categories", json={"name": "Work"})
    user.post(TASKS, json={"title": "one", "category_id": 1})
    before = user.get(path)
    user.patch(f"{TASKS}/1", json={"title": "renamed"})
    user.patch(f"{API}/categories/1", json={"color": "#000000"})
    after = user.get(path)
    assert after.status_code == before.status_code == 200
    assert after.get_data() != before.get_data()
    assert after.headers.get("ETag") != before.headers.get("ETag") or "ETag" not in after.headers


def test_a_write_through_another_process_is_seen(make_app: AppFactory, user: User):
    user.post(TASKS, json={"title": "one"})
    assert _titles(user.get(TASKS)) == ["one"]
    other = make_app().test_client()  # another process: its own cache, the same database
    other.post(TASKS, json={"title": "two"}, headers=user.headers)
    assert _titles(user.get(TASKS)) == ["two", "one"]


def test_a_change_made_in_sql_is_seen(app: Flask, user: User):
    user.post(TASKS, json={"title": "one"})
    assert _titles(user.get(TASKS)) == ["one"]
    with app.app_context():
        db.session.execute(text("UPDATE tasks SET title = 'changed in SQL'"))
        db.session.commit()
    assert _titles(user.get(TASKS)) == ["changed in SQL"]


def test_a_truncate_is_seen_on_postgresql(app: Flask, user: User, is_postgres: bool):
    if not is_postgres:
        pytest.skip("TRUNCATE is PostgreSQL's (SQLite's DELETE fires the row triggers)")
    user.post(TASKS, json={"title": "one"})
    assert user.get(TASKS).get_json()["total"] == 1
    with app.app_context():
        db.session.execute(text("TRUNCATE tasks, task_counters"))
        db.session.commit()
    assert user.get(TASKS).get_json()["items"] == []


def test_a_reused_user_id_never_meets_an_old_entry(app: Flask, auth: AuthActions):
    first = auth.user("first@example.com")
    first.post(TASKS, json={"title": "old"})
    assert _titles(first.get(TASKS)) == ["old"]
    with app.app_context():  # empty the database behind the app's back, ids restarting
        for table in ("tasks", "task_counters", "auth_sessions", "users"):
            db.session.execute(text(f"DELETE FROM {table}"))  # noqa: S608 (fixed names)
        if db.engine.dialect.name == "sqlite":
            db.session.execute(text("DELETE FROM sqlite_sequence"))
        else:
            db.session.execute(text("ALTER SEQUENCE users_id_seq RESTART"))
        db.session.commit()
    second = auth.user("second@example.com")
    assert second.id == first.id
    assert _titles(second.get(TASKS)) == []


def test_the_host_is_part_of_the_key(user: User):
    user.post(TASKS, json={"title": "one"})
    here = user.get(TASKS, base_url="http://api.example.com")
    there = user.get(TASKS, base_url="http://other.example.com")
    assert "api.example.com" in here.headers["Link"]
    assert "other.example.com" in there.headers["Link"]


def test_a_cached_read_honours_if_none_match(user: User):
    user.post(TASKS, json={"title": "one"})
    etag = user.get(f"{TASKS}/1").headers["ETag"]  # now cached
    cached = user.get(f"{TASKS}/1", headers={"If-None-Match": etag})
    assert cached.status_code == 304
    assert cached.headers["ETag"] == etag
    assert cached.get_data() == b""


def test_errors_are_not_cached(user: User, other_user: User):
    other_user.post(TASKS, json={"title": "theirs"})
    assert user.get(f"{TASKS}/1").status_code == 403
    assert user.get(f"{TASKS}/1").status_code == 403


def test_the_cache_is_bounded_and_can_be_off():
    cache = ResponseCache(2)
    for number in range(3):
        cache.put((number,), Response(str(number)))
    assert cache.get((0,)) is None
    assert cache.get((2,)) is not None
    off = ResponseCache(0)
    off.put((1,), Response("x"))
    assert off.get((1,)) is None


def _race_category_delete_with_patches(app: Flask, user: User, round_: int) -> list[int]:
    """Delete a category while its six tasks are PATCHed, all at once; return the statuses."""
    category = user.post(f"{API}/categories", json={"name": f"C{round_}"}).get_json()["id"]
    ids = [
        user.post(TASKS, json={"title": f"t{n}", "category_id": category}).get_json()["id"]
        for n in range(6)
    ]
    statuses: list[int] = []

    def send(method: str, path: str, body: dict[str, str] | None = None) -> None:
        response = app.test_client().open(path, method=method, json=body, headers=user.headers)
        statuses.append(response.status_code)

    threads = [
        threading.Thread(target=send, args=("PATCH", f"{TASKS}/{task_id}", {"priority": "high"}))
        for task_id in ids
    ]
    threads.insert(
        3, threading.Thread(target=send, args=("DELETE", f"{API}/categories/{category}"))
    )
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def test_concurrent_writes_of_one_user_do_not_deadlock(app: Flask, user: User, is_postgres: bool):
    """Writes of one user take the user's row lock first, so lock orders never cross: no 5xx."""
    if not is_postgres:
        pytest.skip("needs PostgreSQL's row locks")
    for round_ in range(3):
        statuses = _race_category_delete_with_patches(app, user, round_)
        assert all(status < 500 for status in statuses), statuses
        assert sorted(set(statuses)) == [200, 204]
