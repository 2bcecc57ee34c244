"""Idempotent creates: `Idempotency-Key` on `POST /tasks` and `POST /categories`
(issue 8, "Beyond the core")."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from backend.extensions import db
from backend.models import Category, IdempotencyRecord, Task
from backend.services.idempotency import request_fingerprint
from tests.conftest import User, assert_problem

TASKS = "/api/v1/tasks"
CATEGORIES = "/api/v1/categories"
KEY = "3f6c1c9e-8d1b-4b7e-9a51-2f0d6c1e7a42"
TASK_BODY = {"title": "Write report", "priority": "high", "due_date": "2026-12-01"}
CATEGORY_BODY = {"name": "Work", "color": "#1E90FF"}


def keyed(user: User, path: str, body: Any, key: str = KEY, **kwargs: Any) -> Any:
    return user.post(path, json=body, headers={"Idempotency-Key": key}, **kwargs)


def count(app: Flask, model: type[Any], **where: Any) -> int:
    with app.app_context():
        statement = select(func.count()).select_from(model)
        for name, value in where.items():
            statement = statement.where(getattr(model, name) == value)
        return db.session.scalar(statement) or 0


def records(app: Flask) -> list[IdempotencyRecord]:
    with app.app_context():
        rows = db.session.scalars(select(IdempotencyRecord).order_by(IdempotencyRecord.id)).all()
        db.session.expunge_all()
        return list(rows)


def route_of(app: Flask, user: User, path: str) -> str:
    """The route name under which keys of `path` are stored (learnt from a real request)."""
    body = {"title": "probe"} if path == TASKS else {"name": "probe"}
    assert keyed(user, path, body, key="route-probe").status_code == 201
    with app.app_context():
        return db.session.scalars(
            select(IdempotencyRecord.route).where(IdempotencyRecord.key == "route-probe")
        ).one()


def insert_record(
    app: Flask,
    user: User,
    route: str,
    body: Any,
    *,
    age: timedelta = timedelta(0),
    expires_in: timedelta = timedelta(hours=24),
    response: tuple[int, str, dict[str, str]] | None = None,
) -> None:
    now = datetime.now(UTC)
    with app.app_context():
        db.session.add(
            IdempotencyRecord(
                user_id=user.id,
                route=route,
                key=KEY,
                request_hash=request_fingerprint(body),
                created_at=now - age,
                expires_at=now - age + expires_in,
                response_status=response[0] if response else None,
                response_body=response[1] if response else None,
                response_headers=json.dumps(response[2]) if response else None,
            )
        )
        db.session.commit()


def assert_replay_of(first: Any, again: Any) -> None:
    assert again.status_code == first.status_code
    assert again.get_json() == first.get_json()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.mimetype == "application/json"
    assert again.headers.get("X-Request-ID")


# --- Replays ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "model"),
    [(TASKS, TASK_BODY, Task), (CATEGORIES, CATEGORY_BODY, Category)],
)
def test_same_key_and_body_replays_the_first_response(
    app: Flask, user: User, path: str, body: dict[str, Any], model: type[Any]
) -> None:
    first = keyed(user, path, body)
    assert first.status_code == 201, first.get_json()
    assert first.headers.get("Idempotent-Replayed") != "true"
    assert first.headers["Location"].endswith(f"{path}/{first.get_json()['id']}")
    assert first.headers["ETag"]

    for _ in range(2):
        assert_replay_of(first, keyed(user, path, body))
    assert count(app, model, user_id=user.id) == 1
    # The replayed Location points at the one resource that exists.
    assert user.get(first.headers["Location"]).get_json() == first.get_json()


def test_bodies_equal_as_json_replay(app: Flask, user: User) -> None:
    first = keyed(user, TASKS, {"title": "A", "priority": "low", "description": None})
    assert first.status_code == 201
    again = user.post(
        TASKS,
        data='{ "description" : null,\n "priority":"low", "title":"\\u0041" }',
        headers={"Idempotency-Key": KEY, "Content-Type": "application/json"},
    )
    assert_replay_of(first, again)
    assert count(app, Task) == 1


def test_replay_is_per_user_not_per_session(auth: Any, app: Flask, user: User) -> None:
    first = keyed(user, TASKS, TASK_BODY)
    tokens = auth.login(user.email, user.password).get_json()
    again = user.client.post(
        TASKS,
        json=TASK_BODY,
        headers={"Idempotency-Key": KEY, "Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert_replay_of(first, again)
    assert count(app, Task) == 1


def test_replay_outlives_the_created_resource(app: Flask, user: User) -> None:
    first = keyed(user, TASKS, TASK_BODY)
    assert user.delete(first.headers["Location"]).status_code == 204
    assert_replay_of(first, keyed(user, TASKS, TASK_BODY))
    assert count(app, Task) == 0


def test_a_replay_still_needs_a_valid_token(client: Any, app: Flask, user: User) -> None:
    assert keyed(user, TASKS, TASK_BODY).status_code == 201
    response = client.post(TASKS, json=TASK_BODY, headers={"Idempotency-Key": KEY})
    assert_problem(response, 401, "token_missing")
    response = client.post(
        TASKS,
        json=TASK_BODY,
        headers={"Idempotency-Key": KEY, "Authorization": f"Bearer {user.refresh_token}"},
    )
    assert_problem(response, 401, "token_invalid")


def test_without_a_key_every_post_creates(app: Flask, user: User) -> None:
    for _ in range(2):
        response = user.post(TASKS, json=TASK_BODY)
        assert response.status_code == 201
        assert "Idempotent-Replayed" not in response.headers
    assert count(app, Task) == 2
    assert records(app) == []


def test_record_is_kept_for_24_hours(app: Flask, user: User) -> None:
    first = keyed(user, TASKS, TASK_BODY)
    (record,) = records(app)
    assert (record.user_id, record.key, record.response_status) == (user.id, KEY, 201)
    lifetime = record.expires_at - record.created_at
    assert timedelta(hours=24) - timedelta(seconds=1) <= lifetime <= timedelta(hours=24)
    assert json.loads(record.response_body or "") == first.get_json()


# --- Reuse with another body ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "other", "model"),
    [
        (TASKS, TASK_BODY, {**TASK_BODY, "priority": "low"}, Task),
        (TASKS, TASK_BODY, {**TASK_BODY, "description": None}, Task),
        (TASKS, {"title": "A"}, {"title": " A "}, Task),
        (CATEGORIES, CATEGORY_BODY, {"name": "Home"}, Category),
    ],
)
def test_same_key_with_another_body_is_422(
    app: Flask,
    user: User,
    path: str,
    body: dict[str, Any],
    other: dict[str, Any],
    model: type[Any],
) -> None:
    first = keyed(user, path, body)
    assert first.status_code == 201
    assert_problem(keyed(user, path, other), 422, "idempotency_key_reused")
    assert count(app, model) == 1
    # The key still replays its own body.
    assert_replay_of(first, keyed(user, path, body))


# --- Scope ------------------------------------------------------------------------------------


def test_keys_are_scoped_per_route(app: Flask, user: User) -> None:
    task = keyed(user, TASKS, {"title": "Work"})
    category = keyed(user, CATEGORIES, {"name": "Work"})
    assert task.status_code == category.status_code == 201
    assert category.headers.get("Idempotent-Replayed") != "true"
    assert (count(app, Task), count(app, Category)) == (1, 1)


def test_keys_are_scoped_per_user(app: Flask, user: User, other_user: User) -> None:
    mine = keyed(user, TASKS, TASK_BODY)
    theirs = keyed(other_user, TASKS, TASK_BODY)
    assert mine.status_code == theirs.status_code == 201
    assert theirs.headers.get("Idempotent-Replayed") != "true"
    assert theirs.get_json()["id"] != mine.get_json()["id"]
    # And another body under the same key is no conflict across users.
    assert keyed(other_user, CATEGORIES, CATEGORY_BODY).status_code == 201
    assert count(app, Task, user_id=user.id) == count(app, Task, user_id=other_user.id) == 1


# --- Failed requests do not consume the key ---------------------------------------------------


def test_a_validation_failure_does_not_consume_the_key(app: Flask, user: User) -> None:
    problem = assert_problem(keyed(user, TASKS, {"title": ""}), 400, "validation_error")
    assert "title" in problem["errors"]
    assert records(app) == []
    # The same key now serves a different (valid) body.
    first = keyed(user, TASKS, TASK_BODY)
    assert first.status_code == 201
    assert first.headers.get("Idempotent-Replayed") != "true"
    assert_replay_of(first, keyed(user, TASKS, TASK_BODY))


def test_an_unknown_category_does_not_consume_the_key(app: Flask, user: User) -> None:
    response = keyed(user, TASKS, {"title": "A", "category_id": 999_999})
    problem = assert_problem(response, 400, "validation_error")
    assert "category_id" in problem["errors"]
    assert records(app) == []
    assert keyed(user, TASKS, {"title": "A"}).status_code == 201


def test_a_forbidden_category_does_not_consume_the_key(
    app: Flask, user: User, other_user: User
) -> None:
    theirs = other_user.post(CATEGORIES, json={"name": "Theirs"}).get_json()["id"]
    body = {"title": "A", "category_id": theirs}
    assert_problem(keyed(user, TASKS, body), 403, "forbidden")
    assert records(app) == []
    assert count(app, Task) == 0


def test_a_conflict_does_not_consume_the_key(app: Flask, user: User) -> None:
    existing = user.post(CATEGORIES, json={"name": "Work"})
    assert existing.status_code == 201
    assert_problem(keyed(user, CATEGORIES, {"name": "work"}), 409, "category_exists")
    assert records(app) == []
    # Once the conflict is gone, the same key and body succeed.
    assert user.delete(existing.headers["Location"]).status_code == 204
    created = keyed(user, CATEGORIES, {"name": "work"})
    assert created.status_code == 201
    assert created.headers.get("Idempotent-Replayed") != "true"


@pytest.mark.parametrize(
    ("headers", "data"),
    [
        ({"Content-Type": "text/plain"}, '{"title": "A"}'),
        ({"Content-Type": "application/json"}, '{"title": '),
        ({"Content-Type": "application/json"}, '["A"]'),
    ],
)
def test_body_errors_do_not_consume_the_key(
    app: Flask, user: User, headers: dict[str, str], data: str
) -> None:
    response = user.post(TASKS, data=data, headers={"Idempotency-Key": KEY, **headers})
    assert response.status_code in {400, 415}
    assert records(app) == []
    assert keyed(user, TASKS, {"title": "A"}).status_code == 201


# --- The key's form ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "",
        "x" * 256,
        "has space",
        " leading",
        "tab\there",
        "clé",
        "new\x7fline",
        "bell\x07",
    ],
)
@pytest.mark.parametrize("path", [TASKS, CATEGORIES])
def test_a_malformed_key_is_400(app: Flask, user: User, key: str, path: str) -> None:
    body = {"title": "A"} if path == TASKS else {"name": "A"}
    problem = assert_problem(keyed(user, path, body, key=key), 400, "validation_error")
    assert set(problem["errors"]) == {"Idempotency-Key"}
    assert (count(app, Task), count(app, Category)) == (0, 0)
    assert records(app) == []


@pytest.mark.parametrize("key", ["a", "x" * 255, "!~#$%&'*+-.^_`|:;<=>?@[]{}()/\\\"", KEY])
def test_any_visible_ascii_key_of_1_to_255_characters_works(
    app: Flask, user: User, key: str
) -> None:
    first = keyed(user, TASKS, {"title": "A"}, key=key)
    assert first.status_code == 201
    assert_replay_of(first, keyed(user, TASKS, {"title": "A"}, key=key))
    assert [record.key for record in records(app)] == [key]


# --- In flight, stale, expired ----------------------------------------------------------------


def test_a_request_in_flight_is_409(app: Flask, user: User) -> None:
    route = route_of(app, user, TASKS)
    insert_record(app, user, route, TASK_BODY)
    assert_problem(keyed(user, TASKS, TASK_BODY), 409, "idempotency_key_in_use")
    # Another body under a key in flight is still a reuse.
    assert_problem(keyed(user, TASKS, {"title": "Other"}), 422, "idempotency_key_reused")
    assert count(app, Task, title=TASK_BODY["title"]) == 0
    in_flight = [record for record in records(app) if record.key == KEY]
    assert [record.response_status for record in in_flight] == [None]


def test_in_flight_on_another_route_does_not_block(app: Flask, user: User) -> None:
    route = route_of(app, user, CATEGORIES)
    insert_record(app, user, route, TASK_BODY)
    assert keyed(user, TASKS, TASK_BODY).status_code == 201


def test_a_stale_request_in_flight_is_taken_over(app: Flask, user: User) -> None:
    route = route_of(app, user, TASKS)
    insert_record(app, user, route, TASK_BODY, age=timedelta(seconds=61))
    first = keyed(user, TASKS, TASK_BODY)
    assert first.status_code == 201, first.get_json()
    assert first.headers.get("Idempotent-Replayed") != "true"
    assert_replay_of(first, keyed(user, TASKS, TASK_BODY))
    assert count(app, Task, title=TASK_BODY["title"]) == 1


def test_an_expired_key_is_ignored(app: Flask, user: User) -> None:
    route = route_of(app, user, TASKS)
    old = (201, json.dumps({"id": 999, "title": "Old"}), {"Location": "/api/v1/tasks/999"})
    insert_record(
        app,
        user,
        route,
        TASK_BODY,
        age=timedelta(hours=25),
        expires_in=timedelta(hours=24),
        response=old,
    )
    first = keyed(user, TASKS, TASK_BODY)
    assert first.status_code == 201
    assert first.headers.get("Idempotent-Replayed") != "true"
    assert first.get_json()["title"] == TASK_BODY["title"]
    # The fresh claim replaced the expired one, and replays from now on.
    assert_replay_of(first, keyed(user, TASKS, TASK_BODY))
    assert count(app, Task, title=TASK_BODY["title"]) == 1
    mine = [record for record in records(app) if record.key == KEY]
    assert len(mine) == 1
    assert mine[0].expires_at > datetime.now(UTC) + timedelta(hours=23)


def test_a_stored_response_replays_within_its_lifetime(app: Flask, user: User) -> None:
    route = route_of(app, user, TASKS)
    stored = (201, json.dumps({"id": 999, "title": "Stored"}), {"Location": "/api/v1/tasks/999"})
    insert_record(app, user, route, TASK_BODY, age=timedelta(hours=23), response=stored)
    again = keyed(user, TASKS, TASK_BODY)
    assert again.status_code == 201
    assert again.get_json() == {"id": 999, "title": "Stored"}
    assert again.headers["Location"].endswith("/api/v1/tasks/999")
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count(app, Task, title=TASK_BODY["title"]) == 0


def test_purge_expired_removes_only_expired_keys(app: Flask, user: User) -> None:
    assert keyed(user, TASKS, TASK_BODY, key="fresh").status_code == 201
    assert keyed(user, TASKS, {"title": "Old"}, key="old").status_code == 201
    with app.app_context():
        db.session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.key == "old")
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        db.session.commit()

    result = app.test_cli_runner().invoke(args=["purge-expired"])
    assert result.exit_code == 0, result.output
    assert "1 expired idempotency key" in result.output
    assert [record.key for record in records(app)] == ["fresh"]
    # The purged key is free again: the same key creates anew.
    again = keyed(user, TASKS, {"title": "Old"}, key="old")
    assert again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") != "true"
    assert count(app, Task, title="Old") == 2


def test_keys_go_with_a_deleted_account(app: Flask, user: User) -> None:
    assert keyed(user, TASKS, TASK_BODY).status_code == 201
    assert user.delete("/api/v1/auth/me", json={"password": user.password}).status_code == 204
    assert records(app) == []


# --- Concurrency (PostgreSQL) -----------------------------------------------------------------


@pytest.mark.parametrize("threads", [2, 8])
def test_concurrent_requests_with_one_key_create_once(
    app: Flask, user: User, is_postgres: bool, threads: int
) -> None:
    if not is_postgres:
        pytest.skip("needs PostgreSQL")
    barrier = threading.Barrier(threads)
    results: list[tuple[int, dict[str, Any], dict[str, str]]] = []
    lock = threading.Lock()

    def send() -> None:
        client = app.test_client()
        barrier.wait()
        response = client.post(
            TASKS, json=TASK_BODY, headers={"Idempotency-Key": KEY, **user.headers}
        )
        with lock:
            results.append((response.status_code, response.get_json(), dict(response.headers)))

    workers = [threading.Thread(target=send) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert len(results) == threads

    statuses = sorted(status for status, _, _ in results)
    assert set(statuses) <= {201, 409}, results
    assert count(app, Task) == 1
    created = [body for status, body, _ in results if status == 201]
    assert created
    assert all(body == created[0] for body in created)
    fresh = [
        headers
        for status, _, headers in results
        if status == 201 and headers.get("Idempotent-Replayed") != "true"
    ]
    assert len(fresh) == 1
    for status, body, _ in results:
        if status == 409:
            assert body["code"] == "idempotency_key_in_use"
    # Afterwards the key replays for everyone.
    assert keyed(user, TASKS, TASK_BODY).headers["Idempotent-Replayed"] == "true"
