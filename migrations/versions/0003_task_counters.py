"""Per-user task counters kept by triggers, and indexes for descending due dates.

Revision ID: 0003_task_counters
Revises: fc7a2c58a03a
Create Date: 2026-11-25 15:20:00

`task_counters` holds, per user, how many tasks have each (status, priority, category) —
category 0 standing for "none". Triggers on `tasks` keep it exact in the same transaction as
every write (ORM writes, bulk statements, ON DELETE SET NULL and cascades alike), so list totals
for the status, priority and category filters are a sum over a few rows instead of a COUNT(*)
over all of a user's tasks.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_task_counters"
down_revision: str | None = "fc7a2c58a03a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = "user_id = {row}.user_id AND status = {row}.status AND priority = {row}.priority AND category_id = COALESCE({row}.category_id, 0)"  # noqa: E501
DECREMENT = "UPDATE task_counters SET n = n - 1 WHERE " + KEY  # noqa: S608 (fixed text)
INCREMENT = (
    "INSERT INTO task_counters (user_id, status, priority, category_id, n) "
    "VALUES ({row}.user_id, {row}.status, {row}.priority, COALESCE({row}.category_id, 0), 1) "
    "ON CONFLICT (user_id, status, priority, category_id) DO UPDATE SET n = task_counters.n + 1"
)
COUNTED_COLUMNS = "user_id, status, priority, category_id"

# PostgreSQL: statement-level triggers with transition tables, so that a statement writing
# many rows (a bulk delete, a seed) moves each counter once — row-level triggers would update the
# same counter rows again and again in one transaction, which PostgreSQL makes quadratic. Rows of
# users being deleted (a cascade) are skipped: their counters go with them.
POSTGRESQL_NET_CHANGE = """
INSERT INTO task_counters AS k (user_id, status, priority, category_id, n)
SELECT user_id, status, priority, category_id, sum(delta)::integer FROM ({rows}) AS changes
WHERE EXISTS (SELECT 1 FROM users WHERE users.id = changes.user_id)
GROUP BY user_id, status, priority, category_id
HAVING sum(delta) <> 0
ON CONFLICT (user_id, status, priority, category_id) DO UPDATE SET n = k.n + EXCLUDED.n
"""
ROWS = (
    "SELECT user_id, status, priority, COALESCE(category_id, 0) AS category_id, "
    "{delta} AS delta FROM {table}"
)
POSTGRESQL_STATEMENTS = {
    "insert": ("REFERENCING NEW TABLE AS new_rows", ROWS.format(delta=1, table="new_rows")),
    "delete": ("REFERENCING OLD TABLE AS old_rows", ROWS.format(delta=-1, table="old_rows")),
    "update": (
        "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
        ROWS.format(delta=-1, table="old_rows")
        + " UNION ALL "
        + ROWS.format(delta=1, table="new_rows"),
    ),
}
POSTGRESQL = [
    statement
    for event, (referencing, rows) in POSTGRESQL_STATEMENTS.items()
    for statement in (
        f"CREATE FUNCTION tasks_count_{event}() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN {POSTGRESQL_NET_CHANGE.format(rows=rows)}; RETURN NULL; END $$",
        f"CREATE TRIGGER tasks_count_{event} AFTER {event.upper()} ON tasks {referencing} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION tasks_count_{event}()",
    )
]
SQLITE_TRIGGERS = {
    "tasks_count_insert": f"AFTER INSERT ON tasks BEGIN {INCREMENT.format(row='NEW')}; END",
    "tasks_count_delete": f"AFTER DELETE ON tasks BEGIN {DECREMENT.format(row='OLD')}; END",
    "tasks_count_update": (
        f"AFTER UPDATE OF {COUNTED_COLUMNS} ON tasks BEGIN "
        f"{DECREMENT.format(row='OLD')}; {INCREMENT.format(row='NEW')}; END"
    ),
}
BACKFILL = """
INSERT INTO task_counters (user_id, status, priority, category_id, n)
SELECT user_id, status, priority, COALESCE(category_id, 0), count(*)
FROM tasks GROUP BY user_id, status, priority, COALESCE(category_id, 0)
"""


def upgrade() -> None:
    op.create_table(
        "task_counters",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=11), nullable=False),
        sa.Column("priority", sa.SmallInteger(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_task_counters_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "user_id", "status", "priority", "category_id", name=op.f("pk_task_counters")
        ),
    )
    # SQLite (development only) cannot say NULLS LAST in an index: there the order is plain.
    postgresql = op.get_bind().dialect.name == "postgresql"
    nulls_last = " NULLS LAST" if postgresql else ""
    op.create_index(
        "ix_tasks_user_due_desc",
        "tasks",
        ["user_id", sa.text(f"due_date DESC{nulls_last}"), sa.text("id DESC")],
    )
    op.create_index(
        "ix_tasks_user_priority_desc_due",
        "tasks",
        ["user_id", sa.text("priority DESC"), sa.text(f"due_date ASC{nulls_last}"), "id"],
    )
    op.execute(BACKFILL)
    if postgresql:
        for statement in POSTGRESQL:
            op.execute(statement)
    else:
        for name, body in SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {body}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for event in POSTGRESQL_STATEMENTS:
            op.execute(f"DROP TRIGGER tasks_count_{event} ON tasks")
            op.execute(f"DROP FUNCTION tasks_count_{event}()")
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    op.drop_index("ix_tasks_user_priority_desc_due", table_name="tasks")
    op.drop_index("ix_tasks_user_due_desc", table_name="tasks")
    op.drop_table("task_counters")
