"""15: word statistics of group messages (words and their effect on the mood, per
member and UTC hour; no texts) and the members who opted out of group mood.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Types as both backends have them (see 0009). Frozen here: a revision must not change
# when schema.py does.
INT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
FLOAT = sa.Double().with_variant(sa.REAL(), "sqlite")

revision = "0015"
down_revision = "0014"


def upgrade() -> None:
    op.create_table(
        "mood_words",
        sa.Column("chat_id", INT, primary_key=True, autoincrement=False),
        sa.Column("hour", FLOAT, primary_key=True),
        sa.Column("word", sa.Text, primary_key=True),
        sa.Column("user_id", INT, primary_key=True, autoincrement=False),
        sa.Column("effect", FLOAT, nullable=False),
        sa.Column("uses", INT, nullable=False),
    )
    op.create_index("mood_words_user", "mood_words", ["user_id"])
    op.create_index("mood_words_hour", "mood_words", ["hour"])
    op.create_table(
        "mood_optouts",
        sa.Column("user_id", INT, primary_key=True, autoincrement=False),
        sa.Column("since", FLOAT, nullable=False),
    )
