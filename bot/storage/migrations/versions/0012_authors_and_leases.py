"""11: who wrote a corrected text when it was not the corrector (so that person's /forget
removes it), and each process's liveness lease (so a replica whose database connection
dropped is not taken for dead).

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Types as both backends have them (see 0009). Frozen here: a revision must not change
# when schema.py does.
INT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
FLOAT = sa.Double().with_variant(sa.REAL(), "sqlite")

revision = "0012"
down_revision = "0011"


def upgrade() -> None:
    op.add_column("corrections", sa.Column("author_id", INT))
    op.create_index("corrections_author", "corrections", ["author_id"])
    op.create_table(
        "process_leases",
        sa.Column("process_id", sa.Text, primary_key=True),
        sa.Column("renewed_at", FLOAT, nullable=False),
    )
