"""3: group mood.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Types as both backends have them: INTEGER/REAL on SQLite, BIGINT/DOUBLE PRECISION on
# PostgreSQL. Frozen here: a revision must not change when schema.py does.
INT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
FLOAT = sa.Double().with_variant(sa.REAL(), "sqlite")

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "mood_scores",
        sa.Column("id", INT, primary_key=True),
        sa.Column("chat_id", INT, nullable=False),
        sa.Column("user_id", INT, nullable=False),
        sa.Column("score", FLOAT, sa.CheckConstraint("score BETWEEN 0 AND 1"), nullable=False),
        sa.Column("model_version", sa.Text, nullable=False),
        sa.Column("at", FLOAT, nullable=False),
        sa.Column("text", sa.Text),
    )
    op.create_index("mood_scores_chat_at", "mood_scores", ["chat_id", "at"])
    op.create_index("mood_scores_user", "mood_scores", ["user_id"])
    op.create_table(
        "chat_settings",
        sa.Column("chat_id", INT, primary_key=True, autoincrement=False),
        sa.Column(
            "store_text",
            sa.Integer,
            sa.CheckConstraint("store_text IN (0, 1)"),
            nullable=False,
            server_default=sa.text("0"),
        ),
        sa.Column("alert_threshold", FLOAT, sa.CheckConstraint("alert_threshold BETWEEN 0 AND 1")),
        sa.Column(
            "alert_active",
            sa.Integer,
            sa.CheckConstraint("alert_active IN (0, 1)"),
            nullable=False,
            server_default=sa.text("0"),
        ),
    )
