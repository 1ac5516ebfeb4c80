"""sync client views: what each device was sent by its last pulls

Revision ID: 65831501df43
Revises: 327f65e66772
Create Date: 2026-11-22 19:59:33.450609
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import GUID, ORA_JSONB, DateTimeUTC, JsonB
from alembic import op
from sqlalchemy import Text  # noqa: F401 - autogenerate renders JSONB(astext_type=Text())
from sqlalchemy.dialects import postgresql

# Autogenerate renders advanced-alchemy's column types as sa.<Type>.
sa.GUID = GUID
sa.DateTimeUTC = DateTimeUTC
sa.JsonB = JsonB
sa.ORA_JSONB = ORA_JSONB

revision = '65831501df43'
down_revision = '327f65e66772'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sync_client_views',
    sa.Column('device_id', sa.GUID(length=16), nullable=False),
    sa.Column('cursor', sa.BigInteger(), nullable=False),
    sa.Column('records', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'cockroachdb').with_variant(sa.ORA_JSONB(), 'oracle').with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', sa.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['sync_devices.id'], name=op.f('fk_sync_client_views_device_id_sync_devices')),
    sa.PrimaryKeyConstraint('device_id', 'cursor', name=op.f('pk_sync_client_views'))
    )


def downgrade() -> None:
    op.drop_table('sync_client_views')
