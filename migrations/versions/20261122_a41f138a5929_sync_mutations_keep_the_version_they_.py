"""sync mutations keep the version they gave their record

Revision ID: a41f138a5929
Revises: 5e0a1e9cf741
Create Date: 2026-11-22 22:39:12.688701
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import GUID, ORA_JSONB, DateTimeUTC, JsonB
from alembic import op
from sqlalchemy import Text  # noqa: F401 - autogenerate renders JSONB(astext_type=Text())


# Autogenerate renders advanced-alchemy's column types as sa.<Type>.
sa.GUID = GUID
sa.DateTimeUTC = DateTimeUTC
sa.JsonB = JsonB
sa.ORA_JSONB = ORA_JSONB

revision = 'a41f138a5929'
down_revision = '5e0a1e9cf741'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sync_mutations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('record_version', sa.BigInteger(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('sync_mutations', schema=None) as batch_op:
        batch_op.drop_column('record_version')

