"""13: whether a group's dashboard is open to its members, not only its admins.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Types as both backends have them (see 0009). Frozen here: a revision must not change
# when schema.py does.
INT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
FLOAT = sa.Double().with_variant(sa.REAL(), "sqlite")

revision = "0013"
down_revision = "0012"


def upgrade() -> None:
    op.create_table(
        "dashboard_access",
        sa.Column("chat_id", INT, primary_key=True, autoincrement=False),
        sa.Column(
            "members_allowed",
            sa.Integer,
            sa.CheckConstraint("members_allowed IN (0, 1)"),
            nullable=False,
            server_default=sa.text("0"),
        ),
        sa.Column("changed_at", FLOAT, nullable=False),
    )
