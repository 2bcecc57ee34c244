"""Validation of task and category bodies: unknown fields, types, lengths, trimming, control
characters, body shape, and JSON merge patch."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import User, assert_problem

TASKS = "/api/v1/tasks"
CATEGORIES = "/api/v1/categories"
MERGE_PATCH = "application/merge-patch+json"


def make(user: User, collection: str, **fields: Any) -> dict[str, Any]:
    defaults = {"title": "Task"} if collection == TASKS else {"name": "Work"}
    response = user.post(collection, json={**defaults, **fields})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def send(user: User, method: str, collection: str, body: Any, **kwargs: Any) -> Any:
    """Send `body` with POST to the collection, or with PUT/PATCH to a fresh item of it."""
    if method == "POST":
        path = collection
    else:
        item = make(user, collection, **({"title": "Keep"} if collection == TASKS else {}))
        path = f"{collection}/{item['id']}"
    return getattr(user, method.lower())(path, json=body, **kwargs)


def snapshot(user: User, collection: str | None = None) -> Any:
    """Return the user's tasks and categories (or one of the two) as listed."""
    if collection is not None:
        return user.get(f"{collection}?limit=100").get_json()["items"]
    return snapshot(user, TASKS), snapshot(user, CATEGORIES)


def assert_rejected(user: User, response: Any, field: str, before: Any = None) -> dict[str, Any]:
    body = assert_problem(response, 400, "validation_error")
    assert field in body["errors"], body
    assert all(isinstance(message, str) for message in body["errors"][field])
    if before is not None:
        assert snapshot(user) == before
    return body


def rejects_everywhere(user: User, collection: str, body: dict[str, Any], field: str) -> None:
    """POST, PUT and PATCH with `body` are each 400 naming `field`, and change nothing."""
    required = {"title": "Valid"} if collection == TASKS else {"name": "Valid"}
    item = make(
        user, collection, **({"title": "Keep"} if collection == TASKS else {"name": "Keep"})
    )
    before = snapshot(user, collection)
    for method in ("POST", "PUT", "PATCH"):
        full = dict(body) if method == "PATCH" else {**required, **body}
        path = collection if method == "POST" else f"{collection}/{item['id']}"
        response = getattr(user, method.lower())(path, json=full)
        assert_rejected(user, response, field)
    assert snapshot(user, collection) == before
    user.delete(f"{collection}/{item['id']}")


# --- unknown and read-only fields --------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", 5),
        ("user_id", 1),
        ("created_at", "2026-01-01T00:00:00.000000Z"),
        ("updated_at", "2026-01-01T00:00:00.000000Z"),
        ("completed_at", "2026-01-01T00:00:00.000000Z"),
        ("version", 3),
        ("foo", "bar"),
        ("Title", "x"),
    ],
)
def test_unknown_task_fields_are_rejected(user: User, field: str, value: Any):
    rejects_everywhere(user, TASKS, {field: value}, field)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", 5),
        ("user_id", 1),
        ("task_count", 7),
        ("created_at", "2026-01-01T00:00:00.000000Z"),
        ("name_key", "x"),
        ("foo", None),
    ],
)
def test_unknown_category_fields_are_rejected(user: User, field: str, value: Any):
    rejects_everywhere(user, CATEGORIES, {field: value}, field)


def test_every_bad_field_is_named(user: User):
    response = user.post(
        TASKS, json={"title": 1, "status": "open", "priority": 2, "due_date": "x", "foo": 1}
    )
    body = assert_rejected(user, response, "title")
    assert set(body["errors"]) == {"title", "status", "priority", "due_date", "foo"}


# --- types and values --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title", 123),
        ("title", None),
        ("title", ["x"]),
        ("title", {"x": 1}),
        ("title", True),
        ("description", 5),
        ("description", ["x"]),
        ("status", "open"),
        ("status", "DONE"),
        ("status", None),
        ("status", 1),
        ("priority", "urgent"),
        ("priority", 2),
        ("priority", "HIGH"),
        ("priority", None),
        ("due_date", "tomorrow"),
        ("due_date", "2026-13-01"),
        ("due_date", "2026-02-30"),
        ("due_date", "20261201"),
        ("due_date", "2026-12-01T00:00:00"),
        ("due_date", "2026-W48-1"),
        ("due_date", 20261201),
        ("category_id", "3"),
        ("category_id", True),
        ("category_id", 1.5),
        ("category_id", 1.0),
        ("category_id", [1]),
    ],
)
def test_task_field_of_wrong_type_or_value(user: User, field: str, value: Any):
    rejects_everywhere(user, TASKS, {field: value}, field)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", 5),
        ("name", None),
        ("name", ["Work"]),
        ("color", "red"),
        ("color", "#12345"),
        ("color", "#1234567"),
        ("color", "#GGGGGG"),
        ("color", "1E90FF"),
        ("color", 0x1E90FF),
    ],
)
def test_category_field_of_wrong_type_or_value(user: User, field: str, value: Any):
    rejects_everywhere(user, CATEGORIES, {field: value}, field)


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_title_is_required(user: User, method: str):
    response = send(user, method, TASKS, {"description": "no title"})
    assert_rejected(user, response, "title")


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_name_is_required(user: User, method: str):
    response = send(user, method, CATEGORIES, {"color": "#000000"})
    assert_rejected(user, response, "name")


@pytest.mark.parametrize(
    ("collection", "field", "value"),
    [
        (TASKS, "title", "x" * 201),
        (TASKS, "description", "x" * 10_001),
        (CATEGORIES, "name", "x" * 51),
    ],
)
def test_too_long(user: User, collection: str, field: str, value: str):
    rejects_everywhere(user, collection, {field: value}, field)


@pytest.mark.parametrize(
    ("collection", "field", "value"),
    [
        (TASKS, "title", "x" * 200),
        (TASKS, "title", "é" * 200),
        (TASKS, "title", "\U0001f600" * 200),
        (TASKS, "title", f"  {'x' * 200}  "),
        (TASKS, "description", "x" * 10_000),
        (CATEGORIES, "name", "x" * 50),
        (CATEGORIES, "name", "ß" * 50),
    ],
)
def test_longest_values_are_accepted(user: User, collection: str, field: str, value: str):
    stored = make(user, collection, **{field: value})
    assert stored[field] == value.strip()


# --- trimming ------------------------------------------------------------------------------


def test_strings_are_trimmed(user: User):
    for n, method in enumerate(["POST", "PUT", "PATCH"]):
        task = send(user, method, TASKS, {"title": "  x  ", "description": "\n  two\nlines \t"})
        assert task.status_code in {200, 201}, method
        assert task.get_json()["title"] == "x"
        assert task.get_json()["description"] == "two\nlines"
        body = {"name": f"\u00a0Home {n}\u2003", "color": " #ABCDEF "}
        category = send(user, method, CATEGORIES, body)
        assert category.status_code in {200, 201}, method
        assert category.get_json()["name"] == f"Home {n}"
        assert category.get_json()["color"] == "#ABCDEF"


@pytest.mark.parametrize("blank", ["", "   ", "\t\n ", "\u00a0"])
def test_blank_required_string_is_400(user: User, blank: str):
    rejects_everywhere(user, TASKS, {"title": blank}, "title")
    rejects_everywhere(user, CATEGORIES, {"name": blank}, "name")


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
def test_blank_optional_string_is_null(user: User, method: str):
    for n, blank in enumerate(["", "   ", "\n"]):
        task = send(user, method, TASKS, {"title": "t", "description": blank})
        assert task.status_code in {200, 201}
        assert task.get_json()["description"] is None, repr(blank)
        category = send(user, method, CATEGORIES, {"name": f"n{n}{blank}", "color": blank})
        assert category.status_code in {200, 201}
        assert category.get_json()["color"] is None, repr(blank)


def test_patch_with_blank_description_clears_it(user: User):
    task = make(user, TASKS, description="something")
    response = user.patch(f"{TASKS}/{task['id']}", json={"description": "  "})
    assert response.get_json()["description"] is None


# --- control characters ------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad", ["a\x00b", "a\x07b", "\x00", "a\x1bb", "a\x7fb", "a\x85b", "a\u2028\x00", "a\x0bb"]
)
def test_control_characters_are_rejected(user: User, bad: str):
    for collection, field in [
        (TASKS, "title"),
        (TASKS, "description"),
        (CATEGORIES, "name"),
        (CATEGORIES, "color"),
    ]:
        rejects_everywhere(user, collection, {field: bad}, field)


@pytest.mark.parametrize("char", ["\n", "\r", "\t"])
def test_line_breaks_and_tabs_inside_single_line_fields_are_rejected(user: User, char: str):
    rejects_everywhere(user, TASKS, {"title": f"a{char}b"}, "title")
    rejects_everywhere(user, CATEGORIES, {"name": f"a{char}b"}, "name")


def test_line_breaks_and_tabs_are_kept_in_description(user: User):
    text = "line one\r\nline two\n\tindented"
    task = make(user, TASKS, description=text)
    assert task["description"] == text
    assert user.get(f"{TASKS}/{task['id']}").get_json()["description"] == text


SURROGATE_CASES = [
    (TASKS, "title", "POST"),
    (TASKS, "title", "PATCH"),
    (TASKS, "description", "POST"),
    (TASKS, "description", "PUT"),
    (CATEGORIES, "name", "POST"),
    (CATEGORIES, "name", "PUT"),
    (CATEGORIES, "color", "POST"),
    (CATEGORIES, "color", "PATCH"),
]


@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "x\\udc00y", "\\ud83d"])
def test_lone_surrogates_are_rejected(user: User, escape: str):
    item = {TASKS: make(user, TASKS), CATEGORIES: make(user, CATEGORIES, name="Item")}
    for collection, field, method in SURROGATE_CASES:
        members = f'"{field}": "{escape}"'
        if field not in {"title", "name"}:
            members = f'"{"title" if collection == TASKS else "name"}": "ok", {members}'
        raw = "{" + members + "}"
        path = collection if method == "POST" else f"{collection}/{item[collection]['id']}"
        before = snapshot(user)
        response = getattr(user, method.lower())(
            path, data=raw.encode(), content_type="application/json"
        )
        assert_rejected(user, response, field, before)


def test_surrogate_pair_is_accepted(user: User):
    raw = b'{"title": "smile \\ud83d\\ude00"}'
    response = user.post(TASKS, data=raw, content_type="application/json")
    assert response.status_code == 201
    assert response.get_json()["title"] == "smile \U0001f600"


# --- body shape ------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
def test_body_must_be_json(user: User, method: str):
    for collection in (TASKS, CATEGORIES):
        check_body_must_be_json(user, method, collection)


def check_body_must_be_json(user: User, method: str, collection: str) -> None:
    item = make(user, collection)
    path = collection if method == "POST" else f"{collection}/{item['id']}"
    send_raw = getattr(user, method.lower())
    assert_problem(
        send_raw(path, data=b'{"title": ', content_type="application/json"), 400, "invalid_json"
    )
    assert_problem(
        send_raw(path, data=b"\xff\xfe", content_type="application/json"), 400, "invalid_json"
    )
    assert_problem(
        send_raw(path, data=b"title=x", content_type="text/plain"), 415, "unsupported_media_type"
    )
    not_object = send_raw(path, data=b'["title"]', content_type="application/json")
    assert_problem(not_object, 400, "validation_error")
    assert_problem(
        send_raw(path, data=b"null", content_type="application/json"), 400, "validation_error"
    )
    assert_problem(
        send_raw(path, data=b'{"title": NaN}', content_type="application/json"), 400, "invalid_json"
    )
    assert snapshot(user)[0 if collection == TASKS else 1] == [item]


# --- JSON merge patch ------------------------------------------------------------------------


def test_merge_patch_content_type_is_accepted(user: User):
    task = make(user, TASKS, description="d", due_date="2026-12-01")
    response = user.patch(
        f"{TASKS}/{task['id']}",
        data=json.dumps({"title": "merged", "priority": "high"}),
        content_type=MERGE_PATCH,
    )
    assert response.status_code == 200
    assert response.get_json() == {
        **task,
        "title": "merged",
        "priority": "high",
        "updated_at": response.get_json()["updated_at"],
    }


@pytest.mark.parametrize("content_type", ["application/json", MERGE_PATCH])
def test_patch_null_clears_nullable_task_fields(user: User, content_type: str):
    category = make(user, CATEGORIES)
    task = make(user, TASKS, description="d", due_date="2026-12-01", category_id=category["id"])
    response = user.patch(
        f"{TASKS}/{task['id']}",
        data=json.dumps({"description": None, "due_date": None, "category_id": None}),
        content_type=content_type,
    )
    assert response.status_code == 200
    cleared = response.get_json()
    assert (cleared["description"], cleared["due_date"], cleared["category_id"]) == (
        None,
        None,
        None,
    )
    assert cleared["title"] == task["title"]


@pytest.mark.parametrize("content_type", ["application/json", MERGE_PATCH])
def test_patch_null_clears_color(user: User, content_type: str):
    category = make(user, CATEGORIES, color="#123456")
    response = user.patch(
        f"{CATEGORIES}/{category['id']}", data='{"color": null}', content_type=content_type
    )
    assert response.status_code == 200
    assert response.get_json()["color"] is None
    assert response.get_json()["name"] == category["name"]


@pytest.mark.parametrize("content_type", ["application/json", MERGE_PATCH])
def test_patch_null_for_required_field_is_400(user: User, content_type: str):
    items = {TASKS: make(user, TASKS), CATEGORIES: make(user, CATEGORIES)}
    before = snapshot(user)
    for collection, field in [
        (TASKS, "title"),
        (TASKS, "status"),
        (TASKS, "priority"),
        (CATEGORIES, "name"),
    ]:
        response = user.patch(
            f"{collection}/{items[collection]['id']}",
            data=json.dumps({field: None}),
            content_type=content_type,
        )
        assert_rejected(user, response, field, before)


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_merge_patch_is_only_for_patch(user: User, method: str):
    task = make(user, TASKS)
    path = TASKS if method == "POST" else f"{TASKS}/{task['id']}"
    response = getattr(user, method.lower())(path, data='{"title": "x"}', content_type=MERGE_PATCH)
    assert_problem(response, 415, "unsupported_media_type")
    assert snapshot(user)[0] == [task]


def test_choice_and_date_strings_are_trimmed(user: User):
    body = {"title": "t", "status": " done ", "priority": "\thigh\n", "due_date": " 2026-12-01 "}
    task = make(user, TASKS, **body)
    assert (task["status"], task["priority"], task["due_date"]) == ("done", "high", "2026-12-01")
    assert task["completed_at"] is not None


@pytest.mark.parametrize("collection", [TASKS, CATEGORIES])
def test_missing_body_is_400_naming_body(user: User, collection: str):
    body = assert_rejected(user, user.post(collection), "body")
    assert list(body["errors"]) == ["body"]
    empty = user.post(collection, data=b"", content_type="application/json")
    assert_problem(empty, 400, "invalid_json")
    assert snapshot(user, collection) == []


def test_body_over_one_mebibyte_is_413(user: User):
    body = json.dumps({"title": "x", "description": "y" * (1024 * 1024)})
    response = user.post(TASKS, data=body, content_type="application/json")
    assert_problem(response, 413, "payload_too_large")
    assert snapshot(user, TASKS) == []
