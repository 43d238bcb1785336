"""5: the label a reply showed (a correction may override the model's), and bot admins'
decisions on contested corrections (see bot.overlay and training.corrections).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Types as both backends have them: INTEGER/REAL on SQLite, BIGINT/DOUBLE PRECISION on
# PostgreSQL. Frozen here: a revision must not change when schema.py does.
INT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
FLOAT = sa.Double().with_variant(sa.REAL(), "sqlite")

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    # The same statement on both backends; add_column would drop the CHECK.
    op.execute("ALTER TABLE verdicts ADD COLUMN shown_label INTEGER CHECK (shown_label IN (0, 1))")
    op.create_index("corrections_text", "corrections", ["text_key"])
    op.create_table(
        "correction_reviews",
        sa.Column("text_key", sa.Text, primary_key=True),
        sa.Column(
            "label",
            sa.Integer,
            sa.CheckConstraint("label IN (0, 1)"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column(
            "decision",
            sa.Text,
            sa.CheckConstraint("decision IN ('approved', 'rejected')"),
            nullable=False,
        ),
        sa.Column("admin_id", INT, nullable=False),
        sa.Column("decided_at", FLOAT, nullable=False),
    )
