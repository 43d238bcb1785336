"""6: when a correction was learned, so it can be kept for the retention period after.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Types as both backends have them: INTEGER/REAL on SQLite, BIGINT/DOUBLE PRECISION on
# PostgreSQL. Frozen here: a revision must not change when schema.py does.
INT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
FLOAT = sa.Double().with_variant(sa.REAL(), "sqlite")

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.add_column("corrections", sa.Column("consumed_at", FLOAT))
