"""versions stamped at the commit: an index of the audit trail's stand-in versions, and quote
numbers of their own

A transaction now works with stand-in versions (below 0) and writes the real ones in just before
it commits (server.db.next_version); a partial index finds its audit events among millions.
Quotes were numbered by their version, which is not known until the commit: they take numbers of
their own, on from the highest number given so far.

Revision ID: 5b8c1d2e3f40
Revises: 7d3e5a1c9b42
Create Date: 2026-12-06 12:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "5b8c1d2e3f40"
down_revision = "7d3e5a1c9b42"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_audit_events_stand_in_versions",
        "audit_events",
        ["record_version"],
        postgresql_where=sa.text("record_version < 0"),
        sqlite_where=sa.text("record_version < 0"),
    )
    op.create_table(
        "quote_numbers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quote_numbers")),
    )
    op.execute(
        "INSERT INTO quote_numbers (id, last) SELECT 1, COALESCE(MAX(CAST(SUBSTR(number, 3) AS BIGINT)), 0) "
        "FROM quotes WHERE number LIKE 'Q-%'"
    )


def downgrade() -> None:
    op.drop_table("quote_numbers")
    op.drop_index("ix_audit_events_stand_in_versions", table_name="audit_events")
