"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = None
depends_on = None

# Never edit a released revision: add a new one (and edit schema.py to match).


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}
