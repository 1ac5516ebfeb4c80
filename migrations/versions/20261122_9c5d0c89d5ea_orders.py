"""orders from the ERP

Revision ID: 9c5d0c89d5ea
Revises: c8ce24e05df4
Create Date: 2026-11-22 17:27:53.634310
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

revision = '9c5d0c89d5ea'
down_revision = 'c8ce24e05df4'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('orders',
    sa.Column('id', sa.GUID(length=16), nullable=False),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('account_id', sa.GUID(length=16), nullable=False),
    sa.Column('customer_po', sa.String(length=60), nullable=False),
    sa.Column('status', sa.Enum('placed', 'confirmed', 'shipped', 'delivered', 'cancelled', name='orderstatus', native_enum=False, length=16), nullable=False),
    sa.Column('ordered_at', sa.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('total', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('deleted_at', sa.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_orders_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_orders')),
    sa.UniqueConstraint('number', name=op.f('uq_orders_number'))
    )
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_orders_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_customer_po'), ['customer_po'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_ordered_at'), ['ordered_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_version'), ['version'], unique=False)

    op.create_table('order_lines',
    sa.Column('id', sa.GUID(length=16), nullable=False),
    sa.Column('order_id', sa.GUID(length=16), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('sku', sa.String(length=60), nullable=False),
    sa.Column('description', sa.String(length=200), nullable=False),
    sa.Column('quantity', sa.Numeric(precision=12, scale=3), nullable=False),
    sa.Column('unit_price', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('deleted_at', sa.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_order_lines_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_lines')),
    sa.UniqueConstraint('order_id', 'position', name=op.f('uq_order_lines_order_id'))
    )
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_lines_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_order_lines_version'), ['version'], unique=False)

    op.create_table('order_status_events',
    sa.Column('id', sa.GUID(length=16), nullable=False),
    sa.Column('order_id', sa.GUID(length=16), nullable=False),
    sa.Column('status', sa.Enum('placed', 'confirmed', 'shipped', 'delivered', 'cancelled', name='orderstatus', native_enum=False, length=16), nullable=False),
    sa.Column('happened_at', sa.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('deleted_at', sa.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_order_status_events_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_status_events'))
    )
    with op.batch_alter_table('order_status_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_status_events_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_order_status_events_version'), ['version'], unique=False)

    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('customer_number', sa.String(length=40), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_accounts_customer_number'), ['customer_number'])



def downgrade() -> None:
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_accounts_customer_number'), type_='unique')
        batch_op.drop_column('customer_number')

    with op.batch_alter_table('order_status_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_status_events_version'))
        batch_op.drop_index(batch_op.f('ix_order_status_events_order_id'))

    op.drop_table('order_status_events')
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_lines_version'))
        batch_op.drop_index(batch_op.f('ix_order_lines_order_id'))

    op.drop_table('order_lines')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_orders_version'))
        batch_op.drop_index(batch_op.f('ix_orders_status'))
        batch_op.drop_index(batch_op.f('ix_orders_ordered_at'))
        batch_op.drop_index(batch_op.f('ix_orders_customer_po'))
        batch_op.drop_index(batch_op.f('ix_orders_account_id'))

    op.drop_table('orders')
