"""The compiled dumpers give exactly what marshmallow's `Schema.dump` gives."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from marshmallow import Schema, fields, post_dump

from backend.extensions import db
from backend.models import AuthSession, Category, Task, User
from backend.schemas.account import SessionSchema
from backend.schemas.auth import UserSchema
from backend.schemas.categories import CategoryPageSchema, CategorySchema
from backend.schemas.dump import compile_dumper, dumper_for
from backend.schemas.tasks import TaskPageSchema, TaskSchema
from backend.services.common import Page
from tests.conftest import User as ApiUser

API = "/api/v1"


def _filled(user: ApiUser) -> None:
    """Give the user a category and tasks covering null and non-null values of every field."""
    category = user.post(f"{API}/categories", json={"name": "Work", "color": "#1E90FF"})
    category_id = category.get_json()["id"]
    user.post(f"{API}/tasks", json={"title": "bare"})
    user.post(
        f"{API}/tasks",
        json={
            "title": "full",
            "description": "line\nline",
            "status": "done",
            "priority": "high",
            "due_date": "2026-12-01",
            "category_id": category_id,
        },
    )


@pytest.mark.parametrize(
    ("model", "schema"),
    [(Task, TaskSchema()), (Category, CategorySchema()), (User, UserSchema())],
)
def test_compiled_dump_equals_marshmallow(app: Flask, user: ApiUser, model: Any, schema: Schema):
    _filled(user)
    with app.app_context():
        rows = db.session.scalars(db.select(model)).all()
        assert rows
        for row in rows:
            assert compile_dumper(schema)(row) == schema.dump(row)


def test_compiled_page_dump_equals_marshmallow(app: Flask, user: ApiUser):
    _filled(user)
    with app.app_context():
        tasks = db.session.scalars(db.select(Task)).all()
        categories = db.session.scalars(db.select(Category)).all()
        for schema, items in ((TaskPageSchema(), tasks), (CategoryPageSchema(), categories)):
            page = Page(items, total=len(items), limit=20, offset=0)
            assert compile_dumper(schema)(page) == schema.dump(page)


def test_session_dump_from_a_mapping(app: Flask, user: ApiUser):
    with app.app_context():
        session = db.session.scalars(db.select(AuthSession)).first()
        assert session is not None
        data = {"id": session.id, "created_at": session.created_at}
        data |= {"last_used_at": session.last_used_at, "current": True}
        assert compile_dumper(SessionSchema())(data) == SessionSchema().dump(data)


def test_missing_attributes_are_left_out_as_marshmallow_does():
    schema = UserSchema()
    assert compile_dumper(schema)({"id": 1}) == schema.dump({"id": 1}) == {"id": 1}


class Hooked(Schema):
    name = fields.String()

    @post_dump
    def shout(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return {"name": data["name"].upper()}


class Renamed(Schema):
    name = fields.String(data_key="label")


class Nested(Schema):
    inner = fields.Nested(Renamed)


@pytest.mark.parametrize("schema", [Hooked(), Renamed(), Nested(), UserSchema(many=True)])
def test_schemas_it_does_not_compile_are_dumped_by_marshmallow(schema: Schema):
    assert compile_dumper(schema) == schema.dump


def test_a_schema_that_has_loaded_is_still_compiled():
    """Loading fills marshmallow's hook table with empty lists; that is not a dump hook."""
    schema = TaskSchema()
    schema.load({"title": "loaded first"})
    assert compile_dumper(schema) != schema.dump


def test_dumpers_are_compiled_once_per_schema():
    schema = TaskSchema()
    assert dumper_for(schema) is dumper_for(schema)
    assert dumper_for(TaskSchema()) is not dumper_for(schema)
