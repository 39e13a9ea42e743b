"""Map grid counts at five cell levels (11, 13, 15, 16, 17)

With counts stored at the cell zoom each low-zoom tile draws (tile zoom + 4), a tile of
zoom 8–13 reads at most 256–1,024 cells per status instead of up to 4,096.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

CELLS = r"""
CREATE OR REPLACE FUNCTION wj_grid_cells(g geometry) RETURNS TABLE (lvl smallint, cx integer, cy integer)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    WITH p AS (SELECT ST_Transform(ST_Centroid(g), 3857) AS m)
    SELECT l::smallint,
           floor((ST_X(m) + 20037508.342789244) / (40075016.68557849 / (1 << l)))::integer,
           floor((20037508.342789244 - ST_Y(m)) / (40075016.68557849 / (1 << l)))::integer
    FROM p, unnest(ARRAY[{levels}]) AS l
    WHERE g IS NOT NULL AND NOT ST_IsEmpty(g)
$$;
"""


def upgrade() -> None:
    op.execute(CELLS.format(levels="11, 13, 15, 16, 17"))
    op.execute("SELECT wj_grid_rebuild()")


def downgrade() -> None:
    op.execute(CELLS.format(levels="11, 14, 17"))
    op.execute("SELECT wj_grid_rebuild()")
