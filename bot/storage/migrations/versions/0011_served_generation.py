"""11: a generation number on the served model version, raised by every change, so a
change decided on an older choice (a retrain that started before a rollback) cannot win
over a newer one, and every process can tell a new choice from one it already follows
(see bot.served_version).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# BIGINT on PostgreSQL, INTEGER (64-bit) on SQLite. Frozen here: a revision must not
# change when schema.py does.
INT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    op.add_column("served_model", sa.Column("generation", INT, nullable=False, server_default="1"))
