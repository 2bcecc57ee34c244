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

# PostgreSQL: statement-level triggers (one bump per user per statement, however many rows it
# writes: row-level bumps of one row within one transaction are quadratic there).
POSTGRESQL_REFERENCING = {
    "insert": ("REFERENCING NEW TABLE AS new_rows", "SELECT user_id FROM new_rows"),
    "delete": ("REFERENCING OLD TABLE AS old_rows", "SELECT user_id FROM old_rows"),
    "update": (
        "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
        "SELECT user_id FROM old_rows UNION SELECT user_id FROM new_rows",
    ),
}
POSTGRESQL = [
    *(
        f"CREATE FUNCTION bump_data_version_{event}() RETURNS trigger LANGUAGE plpgsql AS $$ "  # noqa: S608
        f"BEGIN UPDATE users SET data_version = data_version + 1 WHERE id IN ({users}); "
        "RETURN NULL; END $$"
        for event, (_referencing, users) in POSTGRESQL_REFERENCING.items()
    ),
    """
    CREATE FUNCTION bump_all_data_versions() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE users SET data_version = data_version + 1;
        RETURN NULL;
    END
    $$
    """,
    *(
        f"CREATE TRIGGER {table}_bump_data_version_{event} AFTER {event.upper()} ON {table} "
        f"{referencing} FOR EACH STATEMENT EXECUTE FUNCTION bump_data_version_{event}()"
        for table in TABLES
        for event, (referencing, _users) in POSTGRESQL_REFERENCING.items()
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
            for event in POSTGRESQL_REFERENCING:
                op.execute(f"DROP TRIGGER {table}_bump_data_version_{event} ON {table}")
        op.execute("DROP FUNCTION bump_all_data_versions()")
        for event in POSTGRESQL_REFERENCING:
            op.execute(f"DROP FUNCTION bump_data_version_{event}()")
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    op.execute("ALTER TABLE users DROP COLUMN data_version")
