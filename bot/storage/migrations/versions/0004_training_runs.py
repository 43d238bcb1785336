"""4: retraining bookkeeping.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Types as both backends have them: INTEGER/REAL on SQLite, BIGINT/DOUBLE PRECISION on
# PostgreSQL. Frozen here: a revision must not change when schema.py does.
INT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
FLOAT = sa.Double().with_variant(sa.REAL(), "sqlite")

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_table(
        "training_runs",
        sa.Column("id", INT, primary_key=True),
        sa.Column("started_at", FLOAT, nullable=False),
        sa.Column("finished_at", FLOAT),
        sa.Column(
            "status",
            sa.Text,
            sa.CheckConstraint("status IN ('running', 'accepted', 'rejected', 'failed')"),
            nullable=False,
        ),
        sa.Column("candidate_version", sa.Text),
        sa.Column("base_version", sa.Text),
        sa.Column("figures", sa.Text),
        sa.Column("message", sa.Text),
    )
