"""users.email_verified, and one-time tokens for password resets and address verification.

Revision ID: 0007_account_recovery
Revises: 0006_drop_data_version
Create Date: 2026-12-04 19:00:00

Existing users start unverified. A token is stored only as the SHA-256 of the random value that
was mailed (backend/services/recovery.py), so a copy of the database opens no account.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_account_recovery"
down_revision: str | None = "0006_drop_data_version"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER TABLE on both databases, as in 0004: a batch copy of `users` would lose its
    # expression index and AUTOINCREMENT.
    op.add_column(
        "users",
        sa.Column("email_verified", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.create_table(
        "one_time_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "purpose IN ('password_reset', 'verify_email')",
            name=op.f("ck_one_time_tokens_purpose_allowed"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_one_time_tokens_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_one_time_tokens")),
        sqlite_autoincrement=True,
    )
    op.create_index("uq_one_time_tokens_token_hash", "one_time_tokens", ["token_hash"], unique=True)
    op.create_index(op.f("ix_one_time_tokens_user_id"), "one_time_tokens", ["user_id"])
    op.create_index(op.f("ix_one_time_tokens_expires_at"), "one_time_tokens", ["expires_at"])


def downgrade() -> None:
    op.drop_table("one_time_tokens")
    op.execute("ALTER TABLE users DROP COLUMN email_verified")
