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

POSTGRESQL_FUNCTION = f"""
CREATE FUNCTION tasks_count_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        {DECREMENT.format(row="OLD")};
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        {INCREMENT.format(row="NEW")};
    END IF;
    RETURN NULL;
END
$$
"""
POSTGRESQL_TRIGGER = f"""
CREATE TRIGGER tasks_count_changes
AFTER INSERT OR DELETE OR UPDATE OF {COUNTED_COLUMNS} ON tasks
FOR EACH ROW EXECUTE FUNCTION tasks_count_changes()
"""
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
        op.execute(POSTGRESQL_FUNCTION)
        op.execute(POSTGRESQL_TRIGGER)
    else:
        for name, body in SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {body}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER tasks_count_changes ON tasks")
        op.execute("DROP FUNCTION tasks_count_changes()")
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    op.drop_index("ix_tasks_user_priority_desc_due", table_name="tasks")
    op.drop_index("ix_tasks_user_due_desc", table_name="tasks")
    op.drop_table("task_counters")
