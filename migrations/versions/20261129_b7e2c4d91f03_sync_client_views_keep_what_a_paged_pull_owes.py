"""sync client views keep what a paged pull still owes the device

Revision ID: b7e2c4d91f03
Revises: a41f138a5929
Create Date: 2026-11-29 21:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import JsonB
from alembic import op

revision = "b7e2c4d91f03"
down_revision = "a41f138a5929"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sync_client_views", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pending", JsonB, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sync_client_views", schema=None) as batch_op:
        batch_op.drop_column("pending")
