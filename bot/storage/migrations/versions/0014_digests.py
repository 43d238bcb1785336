"""14 (digest): the groups that asked for a weekly or daily digest, and one claim per
(group, period) so that a digest is sent once however many replicas look for it.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Types as both backends have them (see 0009). Frozen here: a revision must not change
# when schema.py does.
INT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
FLOAT = sa.Double().with_variant(sa.REAL(), "sqlite")

revision = "0014"
down_revision = "0013"


def upgrade() -> None:
    op.create_table(
        "digest_subscriptions",
        sa.Column("chat_id", INT, primary_key=True, autoincrement=False),
        sa.Column(
            "period",
            sa.Text,
            sa.CheckConstraint("period IN ('daily', 'weekly')"),
            nullable=False,
        ),
        sa.Column(
            "hour", sa.Integer(), sa.CheckConstraint("hour BETWEEN 0 AND 23"), nullable=False
        ),
        sa.Column("since", FLOAT, nullable=False),
    )
    op.create_table(
        "digest_claims",
        sa.Column("chat_id", INT, primary_key=True, autoincrement=False),
        sa.Column("period_end", FLOAT, primary_key=True),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("claimed_at", FLOAT, nullable=False),
        sa.Column("sent_at", FLOAT),
    )
