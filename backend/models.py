"""The data model: users, their auth sessions, categories and tasks (SQLAlchemy 2, typed)."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    select,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, column_property, mapped_column, validates
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

from backend.extensions import Base

# SQLite reuses the id of a deleted last row unless the table is AUTOINCREMENT; an id must never
# name two different resources (caches, idempotent replays), so every table opts in.
NEVER_REUSE_IDS: dict[str, Any] = {"sqlite_autoincrement": True}
# The largest id a row can have: every id column is a 32-bit INTEGER.
MAX_ROW_ID = 2**31 - 1


def utcnow() -> datetime:
    """Return the current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def created_time(context: Any) -> datetime:
    """Default `updated_at` to the row's `created_at`, so a new row has one timestamp."""
    return context.get_current_parameters()["created_at"]


class fold(FunctionElement[str]):  # noqa: N801 (an SQL function)
    """Case-fold text in SQL, alike on both databases.

    Both render the same Unicode lower-casing: PostgreSQL's `lower()`, and on SQLite (whose
    `lower()` folds only ASCII) Python's `str.lower`, registered on each connection as
    `tt_lower` (`backend.database`). `q=strasse` therefore finds `Straße` on neither.
    """

    type = String()
    name = "fold"
    inherit_cache = True


@compiles(fold)
def _fold_sqlite(element: fold, compiler: SQLCompiler, **kw: Any) -> str:
    """Render `tt_lower(x)`, the Python function registered on SQLite connections."""
    return f"tt_lower({compiler.process(element.clauses, **kw)})"


@compiles(fold, "postgresql")
def _fold_postgresql(element: fold, compiler: SQLCompiler, **kw: Any) -> str:
    """Render `lower(x)`."""
    return f"lower({compiler.process(element.clauses, **kw)})"


def lower_or_null(value: str | None) -> str | None:
    """Lower-case a value for SQLite's `tt_lower` SQL function (null stays null)."""
    return value.lower() if isinstance(value, str) else value


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert an aware time to UTC; refuse naive ones, which would be ambiguous."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Attach UTC to the naive times SQLite returns."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Status(enum.StrEnum):
    """Where a task stands."""

    TODO = "todo"
    IN_PROGRESS = "in_progress"
    DONE = "done"


class Priority(enum.IntEnum):
    """A task's priority, stored as its rank so that SQL sorts it correctly."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3


def fold_name(name: str) -> str:
    """Return the case-insensitive key under which a category name must be unique."""
    return name.casefold()


class User(Base):
    """An account; its email is unique ignoring case."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # True once the user followed a link mailed to `email` (see backend/services/recovery.py).
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    __table_args__ = (
        Index("uq_users_email_lower", func.lower(email), unique=True),
        CheckConstraint("length(email) BETWEEN 3 AND 254", name="email_length"),
        NEVER_REUSE_IDS,
    )

    @validates("email")
    def _lower_email(self, _key: str, value: str) -> str:
        """Store emails lower-cased, as the contract says."""
        return value.lower()


class AuthSession(Base):
    """One login: its tokens carry its id, and revoking it revokes them all."""

    __tablename__ = "auth_sessions"
    __table_args__ = (NEVER_REUSE_IDS,)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    refresh_jti: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TokenPurpose(enum.StrEnum):
    """What a mailed one-time token allows."""

    PASSWORD_RESET = "password_reset"  # noqa: S105  # nosec B105
    VERIFY_EMAIL = "verify_email"


class OneTimeToken(Base):
    """A token mailed to a user: only its SHA-256 is stored; it expires and is used once.

    Issuing a token marks the user's older unused ones of the same purpose used, so only the
    newest link works.
    """

    __tablename__ = "one_time_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("uq_one_time_tokens_token_hash", "token_hash", unique=True),
        CheckConstraint("purpose IN ('password_reset', 'verify_email')", name="purpose_allowed"),
        NEVER_REUSE_IDS,
    )


class Task(Base):
    """A user's task."""

    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    category_id: Mapped[int | None] = mapped_column(
        ForeignKey("categories.id", ondelete="SET NULL"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(11), default=Status.TODO.value)
    priority: Mapped[int] = mapped_column(SmallInteger, default=Priority.MEDIUM.value)
    due_date: Mapped[date | None] = mapped_column(Date)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=created_time, onupdate=utcnow)
    # Moved by every UPDATE (SQLAlchemy's `version_id_col`, which also makes a write that lost
    # a race fail instead of overwriting); the task's ETag is made of it.
    version: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (
        CheckConstraint("status IN ('todo', 'in_progress', 'done')", name="status_allowed"),
        CheckConstraint("priority BETWEEN 1 AND 3", name="priority_allowed"),
        CheckConstraint("length(title) BETWEEN 1 AND 200", name="title_length"),
        CheckConstraint(
            "(status = 'done') = (completed_at IS NOT NULL)", name="completed_at_matches_status"
        ),
        Index("ix_tasks_user_created", "user_id", "created_at", "id"),
        Index("ix_tasks_user_updated", "user_id", "updated_at", "id"),
        Index("ix_tasks_user_due", "user_id", "due_date", "id"),
        Index(
            "ix_tasks_user_due_desc",
            "user_id",
            due_date.desc().nulls_last(),
            id.desc(),
        ),
        Index(
            "ix_tasks_user_priority_desc_due",
            "user_id",
            priority.desc(),
            due_date.asc().nulls_last(),
            "id",
        ),
        Index("ix_tasks_user_priority", "user_id", "priority", "id"),
        Index("ix_tasks_user_title", "user_id", func.lower(title), "id"),
        Index("ix_tasks_user_status_created", "user_id", "status", "created_at", "id"),
        NEVER_REUSE_IDS,
    )
    __mapper_args__: dict[str, Any] = {"version_id_col": version}  # noqa: RUF012

    @property
    def etag(self) -> str:
        """Return the strong ETag of the task's current representation."""
        return f'"{self.version}"'


class Category(Base):
    """A user's label for tasks; names are unique per user ignoring case."""

    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(50))
    name_key: Mapped[str] = mapped_column(String(150))
    color: Mapped[str | None] = mapped_column(String(7))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=created_time, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)
    task_count: Mapped[int] = column_property(
        select(func.count(Task.id))
        .where(Task.category_id == id)
        .correlate_except(Task)
        .scalar_subquery()
    )

    __table_args__ = (
        UniqueConstraint("user_id", "name_key"),
        CheckConstraint("length(name) BETWEEN 1 AND 50", name="name_length"),
        CheckConstraint("color IS NULL OR length(color) = 7", name="color_format"),
        NEVER_REUSE_IDS,
    )
    __mapper_args__: dict[str, Any] = {"version_id_col": version}  # noqa: RUF012

    @property
    def etag(self) -> str:
        """Return the strong ETag of the category's representation (its task count included)."""
        return f'"{self.version}.{self.task_count}"'

    @validates("name")
    def _set_name_key(self, _key: str, value: str) -> str:
        """Keep the case-folded uniqueness key in step with the name."""
        self.name_key = fold_name(value)
        return value


class IdempotencyRecord(Base):
    """A create request made with an `Idempotency-Key`: in flight until its response is stored."""

    __tablename__ = "idempotency_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    route: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int | None] = mapped_column(SmallInteger)
    response_body: Mapped[str | None] = mapped_column(Text)
    response_headers: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)

    __table_args__ = (UniqueConstraint("user_id", "route", "key"), NEVER_REUSE_IDS)


class TaskCounter(Base):
    """How many of a user's tasks have one (status, priority, category); category 0 = none.

    Database triggers on `tasks` keep it exact in the same transaction as every write (see
    migration 0003), so list totals for status, priority and category filters need no scan.
    """

    __tablename__ = "task_counters"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(11), primary_key=True)
    priority: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    category_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(Integer)
