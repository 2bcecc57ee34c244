"""Constraints the database itself enforces, written through the session (no API in between)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, text
from sqlalchemy.exc import DataError, IntegrityError, StatementError

from backend.extensions import db
from backend.models import AuthSession, Category, Task, User

LATER = datetime.now(UTC) + timedelta(days=1)


@pytest.fixture
def session(app: Flask) -> Iterator[Any]:
    """Yield the app's database session inside an app context; roll back what a test left."""
    with app.app_context():
        yield db.session
        db.session.rollback()


def add_user(email: str = "owner@example.com") -> User:
    user = User(email=email, password_hash="hash")
    db.session.add(user)
    db.session.flush()
    return user


def add_task(user: User, **fields: Any) -> Task:
    task = Task(user_id=user.id, title=fields.pop("title", "A task"), **fields)
    db.session.add(task)
    db.session.flush()
    return task


def insert_user_sql(email: str) -> None:
    db.session.execute(
        text(
            "INSERT INTO users (email, password_hash, created_at) "
            "VALUES (:email, 'hash', CURRENT_TIMESTAMP)"
        ),
        {"email": email},
    )


# --- users --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [("A@X.COM", "a@x.com"), ("a@x.com", "a@x.com"), ("Mixed@Example.org", "mIXED@eXAMPLE.ORG")],
)
def test_email_is_unique_ignoring_case_in_the_database(
    session: Any, first: str, second: str
) -> None:
    insert_user_sql(first)  # raw SQL: the model's lower-casing is bypassed
    with pytest.raises(IntegrityError):
        insert_user_sql(second)


def test_different_emails_are_accepted(session: Any) -> None:
    insert_user_sql("one@x.com")
    insert_user_sql("two@x.com")
    assert session.scalar(text("SELECT count(*) FROM users")) == 2


def test_email_is_stored_lower_cased(session: Any) -> None:
    user = add_user("Someone@Example.COM")
    session.commit()
    stored = session.scalar(text("SELECT email FROM users WHERE id = :id"), {"id": user.id})
    assert stored == "someone@example.com"


@pytest.mark.parametrize("email", ["", "ab"])
def test_email_length_is_checked(session: Any, email: str) -> None:
    with pytest.raises(IntegrityError):
        insert_user_sql(email)


# --- categories ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"), [("Work", "WORK"), ("work", "Work"), ("Straße", "STRASSE")]
)
def test_category_name_is_unique_per_user_ignoring_case(
    session: Any, first: str, second: str
) -> None:
    user = add_user()
    session.add(Category(user_id=user.id, name=first))
    session.flush()
    session.add(Category(user_id=user.id, name=second))
    with pytest.raises(IntegrityError):
        session.flush()


def test_same_category_name_for_different_users_is_fine(session: Any) -> None:
    one, two = add_user("one@example.com"), add_user("two@example.com")
    session.add_all([Category(user_id=one.id, name="Work"), Category(user_id=two.id, name="WORK")])
    session.commit()
    assert session.scalar(text("SELECT count(*) FROM categories")) == 2


def test_category_name_key_tracks_renames(session: Any) -> None:
    user = add_user()
    category = Category(user_id=user.id, name="Home")
    session.add(category)
    session.flush()
    category.name = "Office"
    session.add(Category(user_id=user.id, name="home"))  # the old name is free again
    session.commit()
    assert category.name_key == "office"


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        pytest.param({"name": ""}, (IntegrityError,), id="empty-name"),
        pytest.param({"name": "n" * 51}, (IntegrityError, DataError), id="long-name"),
        pytest.param({"name": "n", "color": "#FFF"}, (IntegrityError,), id="short-color"),
    ],
)
def test_category_checks(session: Any, fields: dict[str, Any], errors: tuple[type, ...]) -> None:
    user = add_user()
    session.add(Category(user_id=user.id, **fields))
    with pytest.raises(errors):
        session.flush()


# --- tasks --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        pytest.param({"status": "bogus"}, (IntegrityError,), id="unknown-status"),
        pytest.param(
            {"status": "DONE", "completed_at": LATER}, (IntegrityError,), id="status-case"
        ),
        pytest.param({"priority": 0}, (IntegrityError,), id="priority-0"),
        pytest.param({"priority": 4}, (IntegrityError,), id="priority-4"),
        pytest.param({"status": "done"}, (IntegrityError,), id="done-without-completed-at"),
        pytest.param(
            {"status": "todo", "completed_at": LATER}, (IntegrityError,), id="todo-completed"
        ),
        pytest.param(
            {"status": "in_progress", "completed_at": LATER}, (IntegrityError,), id="wip-completed"
        ),
        pytest.param({"title": ""}, (IntegrityError,), id="empty-title"),
        # PostgreSQL's varchar(200) refuses the value (DataError) before the CHECK does.
        pytest.param({"title": "t" * 201}, (IntegrityError, DataError), id="long-title"),
    ],
)
def test_task_checks(session: Any, fields: dict[str, Any], errors: tuple[type, ...]) -> None:
    user = add_user()
    with pytest.raises(errors):
        add_task(user, **fields)


@pytest.mark.parametrize(
    "fields",
    [
        {"status": "todo"},
        {"status": "in_progress", "priority": 1},
        {"status": "done", "completed_at": LATER, "priority": 3},
        {"title": "t" * 200},
        {"title": "x"},
    ],
)
def test_task_within_the_checks_is_stored(session: Any, fields: dict[str, Any]) -> None:
    task = add_task(add_user(), **fields)
    session.commit()
    assert task.id is not None


def test_task_defaults(session: Any) -> None:
    task = add_task(add_user())
    session.commit()
    assert (task.status, task.priority, task.version) == ("todo", 2, 1)
    assert task.updated_at == task.created_at


def test_task_needs_an_existing_user(session: Any) -> None:
    session.add(Task(user_id=999_999, title="orphan"))
    with pytest.raises(IntegrityError):
        session.flush()


def test_deleting_a_category_sets_its_tasks_category_to_null(session: Any) -> None:
    user = add_user()
    category = Category(user_id=user.id, name="Work")
    session.add(category)
    session.flush()
    task = add_task(user, category_id=category.id)
    session.commit()
    session.execute(text("DELETE FROM categories WHERE id = :id"), {"id": category.id})
    session.commit()
    assert session.scalar(text("SELECT count(*) FROM tasks WHERE id = :id"), {"id": task.id}) == 1
    category_id = session.scalar(
        text("SELECT category_id FROM tasks WHERE id = :id"), {"id": task.id}
    )
    assert category_id is None


def test_deleting_a_user_cascades_to_their_rows(session: Any) -> None:
    owner, other = add_user("owner@example.com"), add_user("other@example.com")
    for user in (owner, other):
        category = Category(user_id=user.id, name="Work")
        session.add(category)
        session.flush()
        add_task(user, category_id=category.id)
        session.add(AuthSession(user_id=user.id, refresh_jti="j" * 36, expires_at=LATER))
    session.commit()
    session.execute(text("DELETE FROM users WHERE id = :id"), {"id": owner.id})
    session.commit()
    for table in ("tasks", "categories", "auth_sessions"):
        owners = session.scalars(text(f"SELECT user_id FROM {table}")).all()  # noqa: S608
        assert owners == [other.id], table


def test_sqlite_enforces_foreign_keys(session: Any, is_postgres: bool) -> None:
    if is_postgres:
        pytest.skip("PostgreSQL always enforces foreign keys")
    assert session.scalar(text("PRAGMA foreign_keys")) == 1


# --- timestamps ---------------------------------------------------------------------------


def test_timestamps_come_back_timezone_aware_utc(session: Any) -> None:
    user = add_user()
    completed = datetime(2026, 11, 25, 14, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    task = add_task(user, status="done", completed_at=completed, due_date=date(2026, 12, 1))
    session.commit()
    session.expunge_all()
    loaded = session.get(Task, task.id)
    assert loaded is not None
    for value in (loaded.created_at, loaded.updated_at, loaded.completed_at):
        assert value is not None
        assert value.utcoffset() == timedelta(0)
    assert loaded.completed_at == completed
    assert loaded.completed_at.hour == 12  # converted to UTC, microseconds kept
    assert loaded.completed_at.microsecond == 123456
    assert loaded.due_date == date(2026, 12, 1)
    session_row = AuthSession(user_id=user.id, refresh_jti="j", expires_at=LATER)
    session.add(session_row)
    session.commit()
    session.expunge_all()
    expires_at = session.scalar(select(AuthSession.expires_at))
    assert expires_at.tzinfo is not None
    assert expires_at.utcoffset() == timedelta(0)


def test_timestamps_read_through_raw_sql_inserts_are_utc(session: Any) -> None:
    insert_user_sql("raw@example.com")
    session.commit()
    created_at = session.scalar(select(User.created_at))
    assert created_at.utcoffset() == timedelta(0)
    assert abs(created_at - datetime.now(UTC)) < timedelta(minutes=5)


def test_naive_datetime_is_refused(session: Any) -> None:
    user = add_user()
    naive = datetime(2026, 11, 25, 12, 0)  # the point of the test
    with pytest.raises(StatementError) as caught:
        add_task(user, status="done", completed_at=naive)
    assert isinstance(caught.value.orig, ValueError)
    assert "naive" in str(caught.value.orig)
