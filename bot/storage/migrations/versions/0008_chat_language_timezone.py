"""8: a group's own language and time zone (NULL: the bot's defaults).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Types as both backends have them: INTEGER/REAL on SQLite, BIGINT/DOUBLE PRECISION on
# PostgreSQL. Frozen here: a revision must not change when schema.py does.
INT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
FLOAT = sa.Double().with_variant(sa.REAL(), "sqlite")

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    op.add_column("chat_settings", sa.Column("language", sa.Text))
    op.add_column("chat_settings", sa.Column("timezone", sa.Text))
