"""Races on PostgreSQL: conditional writes and unique names hold under simultaneous requests."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask import Flask

from tests.conftest import User, assert_problem

TASKS = "/api/v1/tasks"
CATEGORIES = "/api/v1/categories"
THREADS = 8


@pytest.fixture(autouse=True)
def _needs_postgres(is_postgres: bool) -> None:
    if not is_postgres:
        pytest.skip("needs PostgreSQL")


def race(app: Flask, request: Callable[[Any, int], Any]) -> list[Any]:
    """Run `request(client, n)` from THREADS threads at once, each with its own test client."""
    barrier = threading.Barrier(THREADS)

    def run(n: int) -> Any:
        client = app.test_client()
        barrier.wait(timeout=10)
        return request(client, n)

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(run, range(THREADS)))


def test_simultaneous_conditional_patches_let_exactly_one_win(app: Flask, user: User):
    created = user.post(TASKS, json={"title": "Contended"})
    task_id, etag = created.get_json()["id"], created.headers["ETag"]

    def patch(client: Any, n: int) -> Any:
        return client.patch(
            f"{TASKS}/{task_id}",
            json={"title": f"writer {n}", "priority": "high"},
            headers={**user.headers, "If-Match": etag},
        )

    responses = race(app, patch)
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] + [412] * (THREADS - 1), statuses
    [winner] = [response for response in responses if response.status_code == 200]
    for response in responses:
        if response.status_code == 412:
            assert_problem(response, 412, "precondition_failed")

    final = user.get(f"{TASKS}/{task_id}")
    assert final.get_json() == winner.get_json()
    assert final.headers["ETag"] == winner.headers["ETag"]
    assert final.get_json()["title"].startswith("writer ")


def test_simultaneous_deletes_with_if_match_delete_once(app: Flask, user: User):
    created = user.post(TASKS, json={"title": "Contended"})
    task_id, etag = created.get_json()["id"], created.headers["ETag"]

    def delete(client: Any, _n: int) -> Any:
        return client.delete(f"{TASKS}/{task_id}", headers={**user.headers, "If-Match": etag})

    statuses = sorted(response.status_code for response in race(app, delete))
    assert statuses[0] == 204
    assert statuses.count(204) == 1
    assert set(statuses[1:]) <= {404, 412}, statuses
    assert user.get(f"{TASKS}/{task_id}").status_code == 404


def test_simultaneous_creates_of_one_category_name_conflict(app: Flask, user: User):
    def create(client: Any, n: int) -> Any:
        name = "Work" if n % 2 else "WORK"
        return client.post(CATEGORIES, json={"name": name}, headers=user.headers)

    responses = race(app, create)
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] + [409] * (THREADS - 1), statuses
    for response in responses:
        if response.status_code == 409:
            assert_problem(response, 409, "category_exists")
    page = user.get(CATEGORIES).get_json()
    assert page["total"] == 1
