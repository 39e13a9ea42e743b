"""Mapbox vector tiles straight from PostGIS (``ST_AsMVT``).

Layers: ``boundaries`` (streets and communities), ``parcels``, ``violations``,
``detections`` and ``sorties``. From the layer's detail zoom (:data:`DETAIL_ZOOMS`: 15 for
parcels and items, which at zoom 14 are 1–5 pixels wide and number thousands per tile in a
dense city; 14 for detections) a tile holds the polygons themselves. Below it, from zoom
:data:`ADAPTIVE_MIN_ZOOM`, a tile still gets the polygons when the grid counts say it holds
at most :data:`MAX_DETAIL_FEATURES` of them (a district's few thousand items stay polygons
at zoom 13–14; a city's million become cells); otherwise parcels, violations and
detections come as grid cells with counts read from ``map_grid_counts`` (kept current by
triggers, migrations 0004 and 0006), so a tile never touches more than about a thousand
cells per status whatever the table size.

The street scope (:mod:`geo.scope`) is applied inside the SQL. Functions take a
SQLAlchemy connection and return the tile's bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.engine import Connection

from geo.errors import NotFound, ValidationError
from geo.models import Status, ViolationType
from geo.scope import Scope, street_sql

#: First zoom at which every layer's tiles carry the features themselves.
DETAIL_ZOOM = 15
#: The same per aggregated layer.
DETAIL_ZOOMS = {"violations": 15, "detections": 14, "parcels": 15}
#: From this zoom a sparse tile gets polygons even below the detail zoom.
ADAPTIVE_MIN_ZOOM = 12
#: A tile below the detail zoom gets polygons when it holds at most this many features.
MAX_DETAIL_FEATURES = 1000
#: Zoom range served.
MIN_ZOOM, MAX_ZOOM = 0, 22
#: Cell levels stored in ``map_grid_counts``.
GRID_LEVELS = (11, 13, 15, 16, 17)
#: A low-zoom tile is split into 2**CELL_BITS × 2**CELL_BITS cells.
CELL_BITS = 4
#: Up to this many columns of stored cells a grid query looks each column up on its own.
_MAX_COLUMN_LIST = 64
EXTENT = 4096
BUFFER = 64

LAYERS = ("boundaries", "parcels", "violations", "detections", "sorties")
AGGREGATED = frozenset({"parcels", "violations", "detections"})


@dataclass(frozen=True)
class Filters:
    """Optional filters of the violations layer (and status of detections).

    Attributes:
        statuses: keep only these statuses.
        vtypes: keep only these types (detail zooms only).
        street_id: keep only this street.
        is_key: keep only key (True) or non-key (False) items (detail zooms only).
        in_database: keep only in-database (True) or not (False) items (detail zooms only).
        month: ``YYYY-MM`` of discovery (detail zooms only).
    """

    statuses: tuple[str, ...] = ()
    vtypes: tuple[str, ...] = ()
    street_id: int | None = None
    is_key: bool | None = None
    in_database: bool | None = None
    month: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> Filters:
        """Parse query-string style arguments, naming the bad field on error.

        Raises:
            ValidationError: an unknown status or type, a bad street id, flag or month.
        """
        statuses = tuple(s for s in (args.get("status") or "").split(",") if s)
        for s in statuses:
            if s not in {x.value for x in Status} | {"pending", "confirmed", "dismissed", "merged"}:
                raise ValidationError(f"status: unknown value '{s}'")
        vtypes = tuple(s for s in (args.get("type") or "").split(",") if s)
        for t in vtypes:
            if t not in {x.value for x in ViolationType}:
                raise ValidationError(f"type: unknown value '{t}'")
        street = args.get("street") or None
        if street is not None and not street.isdigit():
            raise ValidationError(f"street: '{street}' is not a street id")
        month = args.get("month") or None
        if month is not None and not (len(month) == 7 and month[4] == "-" and month.replace("-", "").isdigit()):
            raise ValidationError(f"month: '{month}' is not YYYY-MM")
        return cls(statuses=statuses, vtypes=vtypes, street_id=int(street) if street else None,
                   is_key=_flag(args, "key"), in_database=_flag(args, "indb"), month=month)


def _flag(args: Mapping[str, str], name: str) -> bool | None:
    value = args.get(name)
    if value in (None, "", "all"):
        return None
    if value in ("1", "true", "yes"):
        return True
    if value in ("0", "false", "no"):
        return False
    raise ValidationError(f"{name}: '{value}' is not 1 or 0")


def check_tile(z: int, x: int, y: int) -> None:
    """Raise ValidationError unless (z, x, y) is a valid tile address."""
    if not MIN_ZOOM <= z <= MAX_ZOOM:
        raise ValidationError(f"z: zoom {z} is outside {MIN_ZOOM}–{MAX_ZOOM}")
    n = 1 << z
    if not (0 <= x < n and 0 <= y < n):
        raise ValidationError(f"x/y: tile {x}/{y} does not exist at zoom {z}")


def tile(conn: Connection, layer: str, z: int, x: int, y: int, scope: Scope,
         filters: Filters | None = None) -> bytes:
    """The vector tile of one layer.

    Args:
        conn: an open connection.
        layer: one of :data:`LAYERS`.
        z, x, y: the tile address (XYZ, Web Mercator).
        scope: whose view (street users see only their street).
        filters: optional filters (violations and detections).

    Raises:
        NotFound: unknown layer.
        ValidationError: bad tile address or filter.
    """
    if layer not in LAYERS:
        raise NotFound(f"layer '{layer}' does not exist (layers: {', '.join(LAYERS)})")
    check_tile(z, x, y)
    flt = filters or Filters()
    # A tile is a small query: a parallel worker costs more to start than it saves.
    conn.execute(_NO_PARALLEL)
    if layer in AGGREGATED and z < DETAIL_ZOOMS[layer] and not _sparse(conn, layer, z, x, y, scope, flt):
        sql, params = _grid_sql(layer, z, x, y, scope, flt)
    else:
        sql, params = _DETAIL[layer](z, scope, flt)
    params.update(z=z, x=x, y=y)
    data = conn.execute(_statement(sql), params).scalar()
    return bytes(data) if data is not None else b""


_NO_PARALLEL = text("SET LOCAL max_parallel_workers_per_gather = 0")


@lru_cache(maxsize=256)
def _statement(sql: str) -> TextClause:
    """The parsed statement of a tile query (the same few texts recur, only their parameters change)."""
    return text(sql)


_BOUNDS = """
WITH b AS (
    SELECT ST_TileEnvelope(:z, :x, :y) AS e,
           ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => {margin}), 4326) AS q
)
"""


def _bounds() -> str:
    return _BOUNDS.format(margin=BUFFER / EXTENT)


def _mvt(layer: str, inner: str) -> str:
    return (
        _bounds()
        + f", f AS ({inner})\n"
        # ST_AsMVT skips rows whose geometry is NULL (clipped away); a WHERE on it would be pushed
        # into the scan and compute every ST_AsMVTGeom twice.
        + f"SELECT ST_AsMVT(f, '{layer}', {EXTENT}, 'geom', 'id') FROM f"
    )


def _geom(column: str = "t.geom") -> str:
    return f"ST_AsMVTGeom(ST_Transform({column}, 3857), b.e, {EXTENT}, {BUFFER}, true)"


def _simplified(z: int, column: str = "t.geom") -> str:
    # About a quarter pixel at this zoom, in degrees.
    tol = 360.0 / (256 * (1 << z)) / 4
    return f"ST_AsMVTGeom(ST_Transform(ST_Simplify({column}, {tol!r}, true), 3857), b.e, {EXTENT}, {BUFFER}, true)"


def _boundaries(z: int, scope: Scope, flt: Filters) -> tuple[str, dict[str, Any]]:
    inner = f"""
        SELECT t.id, t.name, t.level, t.code, {_simplified(z)} AS geom
        FROM admin_units t, b
        WHERE t.geom && b.q AND t.level IN ('district', 'street', 'community')
    """
    return _mvt("boundaries", inner), {}


def _parcels(z: int, scope: Scope, flt: Filters) -> tuple[str, dict[str, Any]]:
    inner = f"""
        SELECT t.id, t.code, t.address, t.land_use, t.area_m2, {_geom()} AS geom
        FROM parcels t, b WHERE t.geom && b.q
    """
    return _mvt("parcels", inner), {}


def _violations(z: int, scope: Scope, flt: Filters) -> tuple[str, dict[str, Any]]:
    where, params = _violation_where(scope, flt)
    inner = f"""
        SELECT t.id, t.code, t.status, t.vtype, t.kind, t.is_key, t.in_database, t.street_id,
               to_char(t.discovered_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM') AS month,
               round(t.area_m2::numeric, 1)::float8 AS area_m2, {_geom()} AS geom
        FROM violations t, b WHERE t.geom && b.q AND {where}
    """
    return _mvt("violations", inner), params


def _violation_where(scope: Scope, flt: Filters) -> tuple[str, dict[str, Any]]:
    scope_sql, params = street_sql(scope, "t.street_id")
    parts = [scope_sql]
    if flt.statuses:
        parts.append("t.status = ANY(:statuses)")
        params["statuses"] = list(flt.statuses)
    if flt.vtypes:
        parts.append("t.vtype = ANY(:vtypes)")
        params["vtypes"] = list(flt.vtypes)
    if flt.street_id is not None:
        parts.append("t.street_id = :f_street")
        params["f_street"] = flt.street_id
    if flt.is_key is not None:
        parts.append("t.is_key = :f_key")
        params["f_key"] = flt.is_key
    if flt.in_database is not None:
        parts.append("t.in_database = :f_indb")
        params["f_indb"] = flt.in_database
    if flt.month:
        parts.append("to_char(t.discovered_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM') = :f_month")
        params["f_month"] = flt.month
    return " AND ".join(parts), params


def _detections(z: int, scope: Scope, flt: Filters) -> tuple[str, dict[str, Any]]:
    scope_sql, params = street_sql(scope, "t.street_id")
    statuses = list(flt.statuses) or ["pending"]
    params["statuses"] = statuses
    inner = f"""
        SELECT t.id, t.klass, t.change, t.review_status AS status, round(t.score::numeric, 3)::float8 AS score,
               round(t.area_m2::numeric, 1)::float8 AS area_m2, {_geom()} AS geom
        FROM detections t, b
        WHERE t.geom && b.q AND t.review_status = ANY(:statuses) AND {scope_sql}
    """
    return _mvt("detections", inner), params


def _sorties(z: int, scope: Scope, flt: Filters) -> tuple[str, dict[str, Any]]:
    scope_sql, params = street_sql(scope, "t.street_id")
    if scope.role.value == "drone":
        scope_sql += " AND t.created_by = :scope_user"
        params["scope_user"] = scope.user_id
    inner = f"""
        SELECT t.id, t.code, t.pilot, t.drone, to_char(t.flown_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD') AS day,
               {_simplified(z)} AS geom
        FROM sorties t, b WHERE t.geom IS NOT NULL AND t.geom && b.q AND {scope_sql}
    """
    return _mvt("sorties", inner), params


_DETAIL = {
    "boundaries": _boundaries,
    "parcels": _parcels,
    "violations": _violations,
    "detections": _detections,
    "sorties": _sorties,
}


def _sparse(conn: Connection, layer: str, z: int, x: int, y: int, scope: Scope, flt: Filters) -> bool:
    """Whether the tile holds few enough features (by the grid counts) to draw them as polygons."""
    if z < ADAPTIVE_MIN_ZOOM:
        return False
    level = next(lv for lv in GRID_LEVELS if lv >= z)
    span = 1 << (level - z)
    params: dict[str, Any] = {"layer": layer, "lvl": level, "x0": x * span, "x1": (x + 1) * span - 1,
                              "y0": y * span, "y1": (y + 1) * span - 1}
    where = ["layer = :layer", "lvl = :lvl", "cx BETWEEN :x0 AND :x1", "cy BETWEEN :y0 AND :y1"]
    if scope.street_id is not None:
        where.append("street_id = :scope_street")
        params["scope_street"] = scope.street_id
    if flt.street_id is not None:
        where.append("street_id = :f_street")
        params["f_street"] = flt.street_id
    sql = f"SELECT coalesce(sum(n), 0) FROM map_grid_counts WHERE {' AND '.join(where)}"
    count = conn.execute(_statement(sql), params).scalar()
    return int(count or 0) <= MAX_DETAIL_FEATURES


def grid_level(z: int) -> tuple[int, int, int]:
    """For a low-zoom tile: (cell zoom, stored level to read, shift from stored to cell)."""
    cz = min(z + CELL_BITS, GRID_LEVELS[-1])
    level = next(lv for lv in GRID_LEVELS if lv >= cz)
    return cz, level, max(level - cz, 0)


def _grid_sql(layer: str, z: int, x: int, y: int, scope: Scope, flt: Filters) -> tuple[str, dict[str, Any]]:
    cz, level, shift = grid_level(z)
    span = 1 << (cz - z + shift)
    cells = 1 << (cz - z)
    params: dict[str, Any] = {
        "layer": layer, "lvl": level, "shift": shift,
        "x0": x * span, "x1": (x + 1) * span - 1, "y0": y * span, "y1": (y + 1) * span - 1,
        "gx0": x * cells, "gy0": y * cells, "size": EXTENT // cells,
    }
    where = ["g.layer = :layer", "g.lvl = :lvl", "g.cy BETWEEN :y0 AND :y1", "g.n <> 0"]
    if span <= _MAX_COLUMN_LIST:
        # One index descent per column of cells, each bounded by the row range, instead of
        # walking every row of the columns (the index runs cx, cy, ...).
        where.insert(2, "g.cx = ANY(:xs)")
        params["xs"] = list(range(x * span, (x + 1) * span))
    else:
        where.insert(2, "g.cx BETWEEN :x0 AND :x1")
    if scope.street_id is not None:
        where.append("g.street_id = :scope_street")
        params["scope_street"] = scope.street_id
    if flt.street_id is not None:
        where.append("g.street_id = :f_street")
        params["f_street"] = flt.street_id
    if layer == "detections":
        params["statuses"] = list(flt.statuses) or ["pending"]
        where.append("g.status = ANY(:statuses)")
    elif flt.statuses and layer == "violations":
        params["statuses"] = list(flt.statuses)
        where.append("g.status = ANY(:statuses)")
    # A cell's colour is its most frequent status (ties: the greatest name, so it is stable);
    # the cells lie inside the tile and are drawn as squares in tile coordinates directly.
    sql = f"""
WITH c AS (
    SELECT g.cx >> :shift AS gx, g.cy >> :shift AS gy, g.status, sum(g.n)::bigint AS n
    FROM map_grid_counts g
    WHERE {' AND '.join(where)}
    GROUP BY 1, 2, 3
), cell AS (
    SELECT gx, gy, sum(n)::bigint AS n, substr(max(lpad(n::text, 12, '0') || status), 13) AS status
    FROM c GROUP BY gx, gy HAVING sum(n) > 0
), f AS (
    SELECT (gx::bigint << 32) + gy AS id, n, status, true AS cell,
           ST_Reverse(ST_MakeEnvelope((gx - :gx0) * :size, (gy - :gy0) * :size,
                                      (gx - :gx0 + 1) * :size, (gy - :gy0 + 1) * :size)) AS geom
    FROM cell
)
SELECT ST_AsMVT(f, '{layer}', {EXTENT}, 'geom', 'id') FROM f
"""
    return sql, params
