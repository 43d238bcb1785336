"""10: which bot process received each update, so a replica replays only the updates of
a process that died (see bot.storage.inbox).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    op.add_column("inbox", sa.Column("owner", sa.Text))
