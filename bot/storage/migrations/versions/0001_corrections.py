"""1: corrections people send with the inline buttons.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Types as both backends have them: INTEGER/REAL on SQLite, BIGINT/DOUBLE PRECISION on
# PostgreSQL. Frozen here: a revision must not change when schema.py does.
INT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
FLOAT = sa.Double().with_variant(sa.REAL(), "sqlite")

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "corrections",
        sa.Column("id", INT, primary_key=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("text_key", sa.Text, nullable=False),
        sa.Column(
            "predicted_label",
            sa.Integer,
            sa.CheckConstraint("predicted_label IN (0, 1)"),
            nullable=False,
        ),
        sa.Column(
            "predicted_probability",
            FLOAT,
            sa.CheckConstraint("predicted_probability BETWEEN 0 AND 1"),
            nullable=False,
        ),
        sa.Column(
            "corrected_label",
            sa.Integer,
            sa.CheckConstraint("corrected_label IN (0, 1)"),
            nullable=False,
        ),
        sa.Column("user_id", INT, nullable=False),
        sa.Column("chat_id", INT, nullable=False),
        sa.Column("model_version", sa.Text, nullable=False),
        sa.Column("created_at", FLOAT, nullable=False),
        sa.Column("consumed_by_version", sa.Text),
    )
    op.create_index("corrections_user_text", "corrections", ["user_id", "text_key"], unique=True)
    op.create_index(
        "corrections_pending",
        "corrections",
        ["id"],
        sqlite_where=sa.text("consumed_by_version IS NULL"),
        postgresql_where=sa.text("consumed_by_version IS NULL"),
    )
