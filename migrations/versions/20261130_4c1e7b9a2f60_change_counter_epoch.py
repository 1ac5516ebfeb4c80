"""change counter epoch: which timeline the change numbers (and sync cursors) belong to

Revision ID: 4c1e7b9a2f60
Revises: af9dd9366ef8
Create Date: 2026-11-30 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "4c1e7b9a2f60"
down_revision = "af9dd9366ef8"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # 0 for every database so far: the plain-number cursors devices already hold stay valid.
    with op.batch_alter_table("change_counter", schema=None) as batch_op:
        batch_op.add_column(sa.Column("epoch", sa.BigInteger(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("change_counter", schema=None) as batch_op:
        batch_op.drop_column("epoch")
