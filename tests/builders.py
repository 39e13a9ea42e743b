"""Small builders of database states for tests."""

from __future__ import annotations

import hashlib
import itertools
from datetime import UTC, datetime

from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, box
from shapely.geometry.base import BaseGeometry
from sqlalchemy.orm import Session

from geo.items import create_violation
from geo.models import AdminUnit, Detection, Parcel, Permit, Scene, User, Violation

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


def add_parcel(session: Session, geom: BaseGeometry | None = None, street_id: int | None = None,
               **kw: object) -> Parcel:
    """Insert a parcel (地块); ``geom`` in EPSG:4326, default the :func:`square`."""
    from geo.crs import area_m2
    from geo.items import as_multipolygon

    mp = as_multipolygon(geom if geom is not None else square())
    args: dict[str, object] = {"code": unique("DK"), "street_id": street_id, "area_m2": area_m2(mp),
                               "geom": from_shape(mp, srid=4326)}
    args.update(kw)
    parcel = Parcel(**args)
    session.add(parcel)
    session.flush()
    return parcel


def add_permit(session: Session, geom: BaseGeometry | None = None, **kw: object) -> Permit:
    """Insert a permit footprint (规划许可); ``geom`` in EPSG:4326, default the :func:`square`."""
    from geo.items import as_multipolygon

    mp = as_multipolygon(geom if geom is not None else square())
    args: dict[str, object] = {"permit_no": unique("XK"), "geom": from_shape(mp, srid=4326)}
    args.update(kw)
    permit = Permit(**args)
    session.add(permit)
    session.flush()
    return permit


def add_scene(session: Session, footprint: BaseGeometry | None = None, captured_at: datetime | None = None,
              sensor: str = "drone", **kw: object) -> Scene:
    """Insert a scene row (no file unless ``path`` names one); footprint in EPSG:4326."""
    from geo.items import as_multipolygon

    code = unique("SC")
    mp = as_multipolygon(footprint if footprint is not None else square(size_deg=0.002))
    args: dict[str, object] = {
        "sha256": hashlib.sha256(code.encode()).hexdigest(), "path": f"scenes/{code}.tif",
        "original_name": f"{code}.tif", "sensor": sensor,
        "captured_at": captured_at or datetime(2025, 3, 1, tzinfo=UTC), "crs": "EPSG:4549",
        "resolution_m": 0.2, "width": 1000, "height": 1000, "band_count": 3, "dtype": "uint8",
        "size_bytes": 0, "footprint": from_shape(mp, srid=4326),
    }
    args.update(kw)
    scene = Scene(**args)
    session.add(scene)
    session.flush()
    return scene


def walk(session: Session, violation_id: int, *statuses: str, actor: str = "测试员") -> None:
    """Move an item through ``statuses`` in order (each step a real workflow transition)."""
    from geo import items, workflow
    from geo.models import Status

    for status in statuses:
        items.transition(session, violation_id, workflow.Transition(Status(status), actor, "测试"))


def metric_box(dx: float, dy: float, w: float, h: float, origin: tuple[float, float] = (121.40, 31.21)) -> BaseGeometry:
    """A ``w`` × ``h`` metre rectangle ``dx``, ``dy`` metres from ``origin`` (lon, lat), in EPSG:4326."""
    from shapely.geometry import Point

    from geo.crs import METRIC_EPSG, STORAGE_EPSG, transform

    o = transform(Point(origin), STORAGE_EPSG, METRIC_EPSG)
    return transform(box(o.x + dx, o.y + dy, o.x + dx + w, o.y + dy + h), METRIC_EPSG, STORAGE_EPSG)


def add_user(session: Session, role: str = "office", street: str | None = None, password: str = "password-123",
             username: str | None = None) -> User:
    """Create a login (password ``password-123`` unless given)."""
    from geo.users import create_user

    return create_user(session, username or unique(f"u-{role}"), password, role, street=street)


def add_detection(session: Session, scene: Scene, before: Scene, street_id: int | None = None,
                  lon: float = 121.40, lat: float = 31.21, size_deg: float = 0.0002, score: float = 0.9,
                  klass: str = "new_suspect", change: str = "appeared", violation_id: int | None = None,
                  chip_before: str | None = None, chip_after: str | None = None) -> Detection:
    """Insert a detection waiting for review (``scene`` after, ``before`` before)."""
    from geo.crs import area_m2

    geom = square(lon, lat, size_deg)
    det = Detection(scene_id=scene.id, before_scene_id=before.id, fingerprint=unique("fp"), change=change,
                    klass=klass, score=score, area_m2=round(area_m2(geom), 2),
                    before_captured_at=before.captured_at, after_captured_at=scene.captured_at,
                    street_id=street_id, violation_id=violation_id, review_status="pending",
                    chip_before=chip_before, chip_after=chip_after, geom=from_shape(geom, srid=4326))
    session.add(det)
    session.flush()
    return det
