"""Small builders of database states for tests."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, box
from sqlalchemy.orm import Session

from geo.items import create_violation
from geo.models import AdminUnit, Violation

_counter = itertools.count(1)


def unique(prefix: str) -> str:
    """A code unique within the test session."""
    return f"{prefix}-{next(_counter):06d}"


def square(lon: float = 121.40, lat: float = 31.21, size_deg: float = 0.0002) -> MultiPolygon:
    """A small square footprint in EPSG:4326 (about 19 m × 21 m at Shanghai)."""
    return MultiPolygon([box(lon, lat, lon + size_deg, lat + size_deg)])


def add_street(session: Session, name: str | None = None, lon: float = 121.36, lat: float = 31.19) -> AdminUnit:
    """Insert a street unit covering a 0.04° square."""
    unit = AdminUnit(
        code=unique("ST"),
        name=name or unique("测试街道"),
        level="street",
        geom=from_shape(MultiPolygon([box(lon, lat, lon + 0.04, lat + 0.04)]), srid=4326),
    )
    session.add(unit)
    session.flush()
    return unit


def add_violation(session: Session, status: str = "suspected", street_id: int | None = None,
                  when: datetime | None = None, **kw: object) -> Violation:
    """Insert an item with its first event."""
    args: dict[str, object] = {
        "code": unique("WJ"),
        "geom": square(),
        "kind": "new",
        "vtype": "shed",
        "source": "imagery",
        "discovered_at": when or datetime(2025, 3, 1, tzinfo=UTC),
        "actor": "测试员",
        "status": status,
        "street_id": street_id,
    }
    args.update(kw)
    return create_violation(session, **args)  # type: ignore[arg-type]
