"""Map grid counts: per-cell feature counts that keep low-zoom vector tiles fast

Below zoom 14 the map shows how many parcels, items and detections lie in each cell of
a Web-Mercator grid instead of the polygons themselves. The counts live in
``map_grid_counts`` at three cell levels (tile grids of zoom 11, 14 and 17) and are kept
current by statement-level triggers with transition tables, so a bulk load of a million
rows costs one grouped upsert, and a single transition one small upsert.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

#: (table, layer name, SQL expression of the status dimension)
LAYERS = [
    ("violations", "violations", "status"),
    ("parcels", "parcels", "''"),
    ("detections", "detections", "review_status"),
]

UPGRADE = r"""
CREATE TABLE map_grid_counts (
    layer text NOT NULL,
    lvl smallint NOT NULL,
    cx integer NOT NULL,
    cy integer NOT NULL,
    street_id integer NOT NULL DEFAULT 0,
    status text NOT NULL DEFAULT '',
    n integer NOT NULL,
    CONSTRAINT pk_map_grid_counts PRIMARY KEY (layer, lvl, cx, cy, street_id, status)
);

-- The grid cells (Web-Mercator tile coordinates at levels 11, 14, 17) of a geometry's centroid.
CREATE FUNCTION wj_grid_cells(g geometry) RETURNS TABLE (lvl smallint, cx integer, cy integer)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    WITH p AS (SELECT ST_Transform(ST_Centroid(g), 3857) AS m)
    SELECT l::smallint,
           floor((ST_X(m) + 20037508.342789244) / (40075016.68557849 / (1 << l)))::integer,
           floor((20037508.342789244 - ST_Y(m)) / (40075016.68557849 / (1 << l)))::integer
    FROM p, unnest(ARRAY[11, 14, 17]) AS l
    WHERE g IS NOT NULL AND NOT ST_IsEmpty(g)
$$;

-- Add the new rows to the counts and remove the old ones. Transition tables are visible
-- only inside the trigger function itself, hence the dynamic SQL here.
CREATE FUNCTION wj_grid_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    sql text := 'INSERT INTO map_grid_counts (layer, lvl, cx, cy, street_id, status, n) '
        'SELECT %L, c.lvl, c.cx, c.cy, coalesce(t.street_id, 0), %s, %s * count(*) '
        'FROM %I AS t CROSS JOIN LATERAL wj_grid_cells(t.geom) AS c '
        'GROUP BY 2, 3, 4, 5, 6 '
        'ON CONFLICT (layer, lvl, cx, cy, street_id, status) '
        'DO UPDATE SET n = map_grid_counts.n + excluded.n';
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        EXECUTE format(sql, TG_ARGV[0], TG_ARGV[1], -1, 'old_rows');
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        EXECUTE format(sql, TG_ARGV[0], TG_ARGV[1], 1, 'new_rows');
    END IF;
    RETURN NULL;
END $$;

-- Recompute every count from the tables (after a load with triggers disabled).
CREATE FUNCTION wj_grid_rebuild() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM map_grid_counts;
    INSERT INTO map_grid_counts (layer, lvl, cx, cy, street_id, status, n)
    SELECT 'violations', c.lvl, c.cx, c.cy, coalesce(t.street_id, 0), t.status, count(*)
      FROM violations t CROSS JOIN LATERAL wj_grid_cells(t.geom) c GROUP BY 2, 3, 4, 5, 6;
    INSERT INTO map_grid_counts (layer, lvl, cx, cy, street_id, status, n)
    SELECT 'parcels', c.lvl, c.cx, c.cy, coalesce(t.street_id, 0), '', count(*)
      FROM parcels t CROSS JOIN LATERAL wj_grid_cells(t.geom) c GROUP BY 2, 3, 4, 5, 6;
    INSERT INTO map_grid_counts (layer, lvl, cx, cy, street_id, status, n)
    SELECT 'detections', c.lvl, c.cx, c.cy, coalesce(t.street_id, 0), t.review_status, count(*)
      FROM detections t CROSS JOIN LATERAL wj_grid_cells(t.geom) c GROUP BY 2, 3, 4, 5, 6;
END $$;
"""

TRIGGERS = r"""
CREATE TRIGGER wj_grid_{table}_ins AFTER INSERT ON {table}
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION wj_grid_trigger('{layer}', '{status}');
CREATE TRIGGER wj_grid_{table}_upd AFTER UPDATE ON {table}
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION wj_grid_trigger('{layer}', '{status}');
CREATE TRIGGER wj_grid_{table}_del AFTER DELETE ON {table}
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION wj_grid_trigger('{layer}', '{status}');
"""


def upgrade() -> None:
    op.execute(UPGRADE)
    for table, layer, status in LAYERS:
        op.execute(TRIGGERS.format(table=table, layer=layer, status=status.replace("'", "''")))
    op.execute("SELECT wj_grid_rebuild()")


def downgrade() -> None:
    for table, _layer, _status in LAYERS:
        for suffix in ("ins", "upd", "del"):
            op.execute(f"DROP TRIGGER IF EXISTS wj_grid_{table}_{suffix} ON {table}")
    op.execute("DROP FUNCTION IF EXISTS wj_grid_rebuild()")
    op.execute("DROP FUNCTION IF EXISTS wj_grid_trigger()")
    op.execute("DROP FUNCTION IF EXISTS wj_grid_cells(geometry)")
    op.execute("DROP TABLE IF EXISTS map_grid_counts")
