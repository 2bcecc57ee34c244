"""Existing e-mail addresses in the normal form that registration and login now use.

Revision ID: 0005_normalize_emails
Revises: 0004_user_data_version
Create Date: 2026-12-04 19:00:00

Addresses are now normalized as `email-validator` does, then lower-cased: an internationalized
domain typed in punycode (`xn--exmple-cua.com`) is stored in its Unicode form (`exämple.com`),
and the local part in Unicode NFC. Login normalizes the typed address the same way, so a row
still in an older form could no longer be found: this rewrites each such row.

Rows are left as they are when their address is not valid today (at `localhost`, an IP
address, a special-use domain...: login still finds those, since it keeps an address it
cannot normalize as typed), and when their normal form is already another account's (two
accounts that are now one address: the older stays as is, and the log names the other, for
the operator to resolve). The normalization is written out here rather than imported, so that
this migration keeps doing what it did when the app's code changes.

Downgrade keeps the normalized addresses: they are valid under the older rules too, and the
forms they replaced are not kept.
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from email_validator import EmailNotValidError, validate_email

revision: str = "0005_normalize_emails"
down_revision: str | None = "0004_user_data_version"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EMAIL_MAX = 254
USERS = sa.table("users", sa.column("id", sa.Integer), sa.column("email", sa.String))
log = logging.getLogger("alembic.runtime.migration")


def normal_form(address: str) -> str | None:
    """Return the address as registration now stores it, or None if it is not valid today."""
    try:
        result = validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return None
    normal = result.normalized.lower()
    return normal if len(normal) <= EMAIL_MAX else None


def upgrade() -> None:
    if op.get_context().as_sql:  # offline (`--sql`): there are no rows to read
        log.warning("0005_normalize_emails rewrites rows: run it online to normalize them.")
        return
    connection = op.get_bind()
    rows = connection.execute(sa.select(USERS.c.id, USERS.c.email).order_by(USERS.c.id)).all()
    taken = {email.lower() for _, email in rows}  # what the unique index on lower(email) holds
    for user_id, email in rows:
        normal = normal_form(email)
        if normal is None or normal == email:
            continue
        if normal in taken:
            log.warning(
                "User %s keeps %r: its normal form %r is another account's.", user_id, email, normal
            )
            continue
        connection.execute(sa.update(USERS).where(USERS.c.id == user_id).values(email=normal))
        taken.discard(email.lower())
        taken.add(normal)


def downgrade() -> None:
    pass
