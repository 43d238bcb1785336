"""2: what each bot reply was about, so buttons still work after a restart.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Types as both backends have them: INTEGER/REAL on SQLite, BIGINT/DOUBLE PRECISION on
# PostgreSQL. Frozen here: a revision must not change when schema.py does.
INT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
FLOAT = sa.Double().with_variant(sa.REAL(), "sqlite")

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "verdicts",
        sa.Column("id", INT, primary_key=True, autoincrement=False),
        sa.Column("chat_id", INT, nullable=False),
        sa.Column("message_id", INT, nullable=False),
        sa.Column("user_id", INT, nullable=False),
        sa.Column("text", sa.Text),
        sa.Column(
            "predicted_label",
            sa.Integer,
            sa.CheckConstraint("predicted_label IN (0, 1)"),
            nullable=False,
        ),
        sa.Column(
            "probability",
            FLOAT,
            sa.CheckConstraint("probability BETWEEN 0 AND 1"),
            nullable=False,
        ),
        sa.Column("model_version", sa.Text, nullable=False),
        sa.Column("created_at", FLOAT, nullable=False),
    )
    op.create_index("verdicts_user", "verdicts", ["user_id"])
    op.create_index("verdicts_created", "verdicts", ["created_at"])
