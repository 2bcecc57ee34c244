"""Drop users.data_version and its triggers: the response cache they keyed is gone.

Revision ID: 0006_drop_data_version
Revises: 0005_normalize_emails
Create Date: 2026-12-04 19:30:00

The versioned response cache paid only for repeated reads of unchanged data, not on mixed
traffic (notes phase 5), so every write no longer bumps a counter on the user's row. This
revision is 0004 run backwards, and its downgrade is 0004's upgrade.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

revision: str = "0006_drop_data_version"
down_revision: str | None = "0005_normalize_emails"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _revision_0004() -> ModuleType:
    """Load the revision that added the column (its file name is not an importable name)."""
    path = Path(__file__).with_name("0004_user_data_version.py")
    spec = importlib.util.spec_from_file_location("revision_0004", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    _revision_0004().downgrade()


def downgrade() -> None:
    _revision_0004().upgrade()
