"""the sync device ledger: devices and what became of their mutations

Revision ID: 327f65e66772
Revises: 89ab2295a5e0
Create Date: 2026-11-22 19:35:50.150457
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

revision = '327f65e66772'
down_revision = '89ab2295a5e0'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sync_devices',
    sa.Column('id', sa.GUID(length=16), nullable=False),
    sa.Column('user_id', sa.GUID(length=16), nullable=False),
    sa.Column('last_mutation_id', sa.BigInteger(), nullable=False),
    sa.Column('app_version', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_sync_devices_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_devices'))
    )
    with op.batch_alter_table('sync_devices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sync_devices_user_id'), ['user_id'], unique=False)

    op.create_table('sync_mutations',
    sa.Column('device_id', sa.GUID(length=16), nullable=False),
    sa.Column('mutation_id', sa.BigInteger(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('outcome', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'cockroachdb').with_variant(sa.ORA_JSONB(), 'oracle').with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('received_at', sa.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['sync_devices.id'], name=op.f('fk_sync_mutations_device_id_sync_devices')),
    sa.PrimaryKeyConstraint('device_id', 'mutation_id', name=op.f('pk_sync_mutations'))
    )


def downgrade() -> None:
    op.drop_table('sync_mutations')
    with op.batch_alter_table('sync_devices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sync_devices_user_id'))

    op.drop_table('sync_devices')
