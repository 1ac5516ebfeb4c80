"""visits, leads, the organisation policy, tier overrides, time zones and home bases

Revision ID: 89ab2295a5e0
Revises: 9c5d0c89d5ea
Create Date: 2026-11-22 18:24:03.561320
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

revision = '89ab2295a5e0'
down_revision = '9c5d0c89d5ea'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('organisation_policy',
    sa.Column('id', sa.GUID(length=16), nullable=False),
    sa.Column('geofence_radius_m', sa.Integer(), nullable=False),
    sa.Column('geofence_mode', sa.Enum('soft', 'hard', name='geofencemode', native_enum=False, length=8), nullable=False),
    sa.Column('low_accuracy_m', sa.Integer(), nullable=False),
    sa.Column('tier_a_min', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('tier_b_min', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('deleted_at', sa.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTimeUTC(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organisation_policy'))
    )
    with op.batch_alter_table('organisation_policy', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_organisation_policy_version'), ['version'], unique=False)

    op.create_table('visits',
    sa.Column('id', sa.GUID(length=16), nullable=False),
    sa.Column('account_id', sa.GUID(length=16), nullable=False),
    sa.Column('owner_id', sa.GUID(length=16), nullable=False),
    sa.Column('planned_on', sa.Date(), nullable=False),
    sa.Column('window_start', sa.Time(), nullable=True),
    sa.Column('window_end', sa.Time(), nullable=True),
    sa.Column('purpose', sa.String(length=200), nullable=False),
    sa.Column('status', sa.Enum('planned', 'checked_in', 'done', 'skipped', name='visitstatus', native_enum=False, length=16), nullable=False),
    sa.Column('route_position', sa.Integer(), nullable=True),
    sa.Column('skip_reason', sa.String(length=500), nullable=False),
    sa.Column('checked_in_at', sa.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('checked_in_device_at', sa.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('check_in_latitude', sa.Float(), nullable=True),
    sa.Column('check_in_longitude', sa.Float(), nullable=True),
    sa.Column('check_in_accuracy_m', sa.Float(), nullable=True),
    sa.Column('check_in_distance_m', sa.Float(), nullable=True),
    sa.Column('outside_geofence', sa.Boolean(), nullable=False),
    sa.Column('low_accuracy', sa.Boolean(), nullable=False),
    sa.Column('no_location_reason', sa.String(length=500), nullable=False),
    sa.Column('checked_out_at', sa.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('checked_out_device_at', sa.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('minutes_on_site', sa.Integer(), nullable=True),
    sa.Column('outcome', sa.Enum('order_taken', 'follow_up', 'quote_requested', 'no_interest', 'not_available', 'other', name='outcome', native_enum=False, length=20), nullable=True),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('next_step', sa.String(length=300), nullable=False),
    sa.Column('next_step_due', sa.Date(), nullable=True),
    sa.Column('photo_file', sa.String(length=80), nullable=True),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('deleted_at', sa.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_visits_account_id_accounts')),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_visits_owner_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visits'))
    )
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_visits_account_id'), ['account_id'], unique=False)
        batch_op.create_index('ix_visits_owner_day', ['owner_id', 'planned_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_visits_version'), ['version'], unique=False)

    op.create_table('leads',
    sa.Column('id', sa.GUID(length=16), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('company', sa.String(length=200), nullable=False),
    sa.Column('company_key', sa.String(length=200), nullable=False),
    sa.Column('phone', sa.String(length=40), nullable=False),
    sa.Column('phone_digits', sa.String(length=40), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('source', sa.Enum('referral', 'event', 'inbound', 'walk_in', 'cold_call', 'other', name='leadsource', native_enum=False, length=16), nullable=False),
    sa.Column('status', sa.Enum('open', 'converted', 'disqualified', name='leadstatus', native_enum=False, length=16), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.GUID(length=16), nullable=False),
    sa.Column('captured_by_id', sa.GUID(length=16), nullable=False),
    sa.Column('account_id', sa.GUID(length=16), nullable=True),
    sa.Column('contact_id', sa.GUID(length=16), nullable=True),
    sa.Column('disqualify_reason', sa.String(length=500), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('deleted_at', sa.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_leads_account_id_accounts')),
    sa.ForeignKeyConstraint(['captured_by_id'], ['users.id'], name=op.f('fk_leads_captured_by_id_users')),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_leads_contact_id_contacts')),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_leads_owner_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_leads'))
    )
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_leads_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_leads_company_key'), ['company_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_leads_email'), ['email'], unique=False)
        batch_op.create_index(batch_op.f('ix_leads_owner_id'), ['owner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_leads_phone_digits'), ['phone_digits'], unique=False)
        batch_op.create_index(batch_op.f('ix_leads_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_leads_version'), ['version'], unique=False)

    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tier_override', sa.Enum('A', 'B', 'C', name='tier', native_enum=False), nullable=True))

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('time_zone', sa.String(length=64), nullable=False, server_default='Europe/London'))
        batch_op.add_column(sa.Column('home_latitude', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('home_longitude', sa.Float(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('home_longitude')
        batch_op.drop_column('home_latitude')
        batch_op.drop_column('time_zone')

    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_column('tier_override')

    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_leads_version'))
        batch_op.drop_index(batch_op.f('ix_leads_status'))
        batch_op.drop_index(batch_op.f('ix_leads_phone_digits'))
        batch_op.drop_index(batch_op.f('ix_leads_owner_id'))
        batch_op.drop_index(batch_op.f('ix_leads_email'))
        batch_op.drop_index(batch_op.f('ix_leads_company_key'))
        batch_op.drop_index(batch_op.f('ix_leads_account_id'))

    op.drop_table('leads')
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_visits_version'))
        batch_op.drop_index('ix_visits_owner_day')
        batch_op.drop_index(batch_op.f('ix_visits_account_id'))

    op.drop_table('visits')
    with op.batch_alter_table('organisation_policy', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_organisation_policy_version'))

    op.drop_table('organisation_policy')
