"""client views as plain JSON: written and read whole, never queried inside

Revision ID: 7d3e5a1c9b42
Revises: 2ab235044887
Create Date: 2026-11-30 03:30:00
"""

from __future__ import annotations

from alembic import op

revision = "7d3e5a1c9b42"
down_revision = "2ab235044887"
branch_labels = None
depends_on = None

COLUMNS = ("records", "pending")


def upgrade() -> None:
    # On SQLite both types are the same JSON text: only PostgreSQL's column changes.
    if op.get_bind().dialect.name == "postgresql":
        for column in COLUMNS:
            op.execute(f"ALTER TABLE sync_client_views ALTER COLUMN {column} TYPE json USING {column}::json")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for column in COLUMNS:
            op.execute(f"ALTER TABLE sync_client_views ALTER COLUMN {column} TYPE jsonb USING {column}::jsonb")
