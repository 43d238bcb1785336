"""9: the model version the bot serves, so other processes sharing the database (replicas
on one PostgreSQL) can follow a retrain or a rollback made by one of them.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Types as both backends have them: INTEGER/REAL on SQLite, BIGINT/DOUBLE PRECISION on
# PostgreSQL. Frozen here: a revision must not change when schema.py does.
FLOAT = sa.Double().with_variant(sa.REAL(), "sqlite")

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    op.create_table(
        "served_model",
        sa.Column(
            "id",
            sa.Integer,
            sa.CheckConstraint("id = 1"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("version", sa.Text, nullable=False),
        sa.Column("changed_at", FLOAT, nullable=False),
    )
