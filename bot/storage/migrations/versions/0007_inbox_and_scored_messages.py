"""7: updates received but not yet handled (bot.inbox), and group scores keyed by their
message, so an update handled twice (a replay, a second delivery) counts once.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Types as both backends have them: INTEGER/REAL on SQLite, BIGINT/DOUBLE PRECISION on
# PostgreSQL. Frozen here: a revision must not change when schema.py does.
INT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
FLOAT = sa.Double().with_variant(sa.REAL(), "sqlite")

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.create_table(
        "inbox",
        sa.Column("update_id", INT, primary_key=True, autoincrement=False),
        sa.Column("payload", sa.Text),
        sa.Column("received_at", FLOAT, nullable=False),
        sa.Column("done_at", FLOAT),
    )
    op.create_index(
        "inbox_pending",
        "inbox",
        ["update_id"],
        sqlite_where=sa.text("done_at IS NULL"),
        postgresql_where=sa.text("done_at IS NULL"),
    )
    op.add_column("mood_scores", sa.Column("message_id", INT))
    op.create_index(
        "mood_scores_message",
        "mood_scores",
        ["chat_id", "message_id"],
        unique=True,
        sqlite_where=sa.text("message_id IS NOT NULL"),
        postgresql_where=sa.text("message_id IS NOT NULL"),
    )
