"""users.data_version, moved by triggers whenever a user's tasks or categories change.

Revision ID: 0004_user_data_version
Revises: 0003_task_counters
Create Date: 2026-11-25 15:45:00

Cached responses of a user's tasks and categories are keyed by this version (backend/cache.py).
Triggers move it in the same transaction as every write — ORM writes, bulk statements,
ON DELETE SET NULL and cascades alike — so a cached response can never outlive its data.
On PostgreSQL a TRUNCATE of either table moves every user's version.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_user_data_version"
down_revision: str | None = "0003_task_counters"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("tasks", "categories")
BUMP = "UPDATE users SET data_version = data_version + 1 WHERE id = {row}.user_id"

POSTGRESQL = [
    f"""
    CREATE FUNCTION bump_data_version() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            {BUMP.format(row="OLD")};
        END IF;
        IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.user_id <> OLD.user_id) THEN
            {BUMP.format(row="NEW")};
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE FUNCTION bump_all_data_versions() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE users SET data_version = data_version + 1;
        RETURN NULL;
    END
    $$
    """,
    *(
        f"CREATE TRIGGER {table}_bump_data_version AFTER INSERT OR UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION bump_data_version()"
        for table in TABLES
    ),
    *(
        f"CREATE TRIGGER {table}_truncate_bumps_data_versions AFTER TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION bump_all_data_versions()"
        for table in TABLES
    ),
]
SQLITE_TRIGGERS = {
    f"{table}_bump_{event}": (
        f"AFTER {event.upper()} ON {table} BEGIN {BUMP.format(row=row)}; END",
        row,
    )
    for table in TABLES
    for event, row in (("insert", "NEW"), ("update", "OLD"), ("delete", "OLD"))
}


def upgrade() -> None:
    # Plain ALTER TABLE on both databases (SQLite >= 3.35): a batch copy of `users` would
    # lose its expression index and AUTOINCREMENT.
    op.add_column(
        "users",
        sa.Column("data_version", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRESQL:
            op.execute(statement)
    else:
        for name, (body, _row) in SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {body}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER {table}_truncate_bumps_data_versions ON {table}")
            op.execute(f"DROP TRIGGER {table}_bump_data_version ON {table}")
        op.execute("DROP FUNCTION bump_all_data_versions()")
        op.execute("DROP FUNCTION bump_data_version()")
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    op.execute("ALTER TABLE users DROP COLUMN data_version")
