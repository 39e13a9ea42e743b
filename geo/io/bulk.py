"""Fast bulk loading with PostgreSQL COPY, inside the caller's transaction."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.crs import STORAGE_EPSG


def ewkb(geom: BaseGeometry | None) -> str | None:
    """Hex EWKB of a geometry in EPSG:4326 (what PostGIS reads from COPY text)."""
    if geom is None:
        return None
    return str(shapely.to_wkb(shapely.set_srid(geom, STORAGE_EPSG), hex=True, include_srid=True))


def reserve_ids(session: Session, table: str, n: int) -> list[int]:
    """Take ``n`` ids from the table's ``id`` sequence, ascending."""
    if n <= 0:
        return []
    seq = session.execute(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table}).scalar_one()
    rows = session.execute(text("SELECT nextval(CAST(:s AS regclass)) FROM generate_series(1, :n)"),
                           {"s": seq, "n": n}).scalars()
    return sorted(int(r) for r in rows)


def copy_rows(session: Session, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """COPY ``rows`` into ``table`` on the session's connection; returns the row count.

    Geometries must be given as hex EWKB (:func:`ewkb`), JSON values as dicts or lists.
    Row triggers fire in row order, so a row sees the rows copied before it.
    """
    conn = session.connection()
    raw: Any = conn.connection.driver_connection
    n = 0
    with raw.cursor() as cur:
        with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:
            for row in rows:
                cp.write_row([json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v for v in row])
                n += 1
    return n
