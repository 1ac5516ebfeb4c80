"""sync client views remember the change counter, so a pull with nothing new answers at once

Revision ID: 5e0a1e9cf741
Revises: 03a18a427c0a
Create Date: 2026-11-22 21:28:10.911031
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

revision = '5e0a1e9cf741'
down_revision = '03a18a427c0a'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sync_client_views', schema=None) as batch_op:
        batch_op.add_column(sa.Column('high_water', sa.BigInteger(), server_default='0', nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('sync_client_views', schema=None) as batch_op:
        batch_op.drop_column('high_water')

