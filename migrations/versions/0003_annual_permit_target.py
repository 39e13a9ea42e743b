"""Annual targets: a separate 补证销项 (closure by permit) target beside the closure target

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("annual_targets", sa.Column("permit_area_m2", sa.Numeric(precision=14, scale=2), nullable=True))
    op.add_column("annual_targets", sa.Column("permit_count", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("annual_targets", "permit_count")
    op.drop_column("annual_targets", "permit_area_m2")
