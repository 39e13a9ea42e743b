"""Detections: the area after the change (a known item that grew: item ∪ change)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("detections", sa.Column("area_after_m2", sa.Float(), nullable=True))


def downgrade() -> None:
    op.drop_column("detections", "area_after_m2")
