"""Database states for the report tests, built with the domain functions and model inserts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, Point, box
from sqlalchemy import insert
from sqlalchemy.orm import Session

from geo import workflow
from geo.items import create_violation, transition
from geo.models import AdminUnit, AnnualTarget, Complaint, Sortie, Status, Violation
from reports.periods import TZ
from tests.builders import square, unique


def bj(*args: int) -> datetime:
    """An aware Beijing-time datetime."""
    return datetime(*args, tzinfo=TZ)  # type: ignore[misc]


def add_district(session: Session, streets: int = 2, lon: float = 121.40, lat: float = 31.20
                 ) -> tuple[AdminUnit, list[AdminUnit]]:
    """A district with ``streets`` streets side by side (0.02° squares)."""
    district = AdminUnit(
        code=unique("D"), name=unique("测试区"), level="district",
        geom=from_shape(MultiPolygon([box(lon, lat, lon + 0.02 * streets, lat + 0.02)]), srid=4326),
    )
    session.add(district)
    session.flush()
    out = []
    for i in range(streets):
        st = AdminUnit(
            code=unique("S"), name=unique(f"街道{i + 1}"), level="street", parent_id=district.id,
            geom=from_shape(MultiPolygon([box(lon + 0.02 * i, lat, lon + 0.02 * (i + 1), lat + 0.02)]),
                            srid=4326),
        )
        session.add(st)
        out.append(st)
    session.flush()
    return district, out


def item(session: Session, street: AdminUnit, when: datetime, *, kind: str = "new", source: str = "imagery",
         status: str = "suspected", area: float = 100.0, offset: float = 0.001) -> Violation:
    """An item inside ``street`` (near its south-west corner)."""
    from geoalchemy2.shape import to_shape

    minx, miny, _, _ = to_shape(street.geom).bounds
    return create_violation(
        session, code=unique("WJ"), geom=square(minx + offset, miny + offset, 0.0001), kind=kind,
        vtype="shed", source=source, discovered_at=when, actor="测试员", status=status,
        street_id=street.id, area=area, in_database=(kind == "stock"),
    )


def move(session: Session, item_id: int, *steps: tuple[str, datetime]) -> None:
    """Apply workflow steps (status, when) to an item."""
    for status, when in steps:
        transition(session, item_id, workflow.Transition(Status(status), actor="测试员"), occurred_at=when)


def close_by(session: Session, street: AdminUnit, how: str, area: float, when: datetime) -> Violation:
    """A stock item confirmed, then demolished or permitted (``how``), then closed, all at ``when``."""
    v = item(session, street, when - timedelta(days=40), kind="stock", source="database", status="confirmed",
             area=area)
    move(session, v.id, (how, when - timedelta(days=1)), ("closed", when))
    return v


def complaints(session: Session, street: AdminUnit, received: datetime, *, true_resolved: int = 0,
               true_open: int = 0, untrue: int = 0, explained: int = 0, pending: int = 0,
               about: str = "stock") -> None:
    """Bulk insert complaints received at ``received``, verified the next day."""
    rows: list[dict[str, Any]] = []
    verified = received + timedelta(days=1)

    def add(n: int, **kw: Any) -> None:
        for _ in range(n):
            rows.append({"ticket_no": unique("T"), "received_at": received, "about": about,
                         "street_id": street.id, "geom": from_shape(Point(121.4, 31.2), srid=4326),
                         "verdict": "pending", "is_key": True, **kw})

    add(true_resolved, verdict="true", verified_at=verified, resolved_at=verified + timedelta(days=2))
    add(true_open, verdict="true", verified_at=verified)
    add(untrue, verdict="untrue", verified_at=verified)
    add(explained, verdict="true", is_key=False, verified_at=verified, explained_at=verified)
    add(pending)
    if rows:
        session.execute(insert(Complaint), rows)


def sortie(session: Session, street: AdminUnit, pilot: str, when: datetime) -> None:
    """One drone sortie."""
    session.add(Sortie(code=unique("SO"), pilot=pilot, flown_at=when, street_id=street.id))
    session.flush()


def target(session: Session, unit: AdminUnit, year: int, area: float, permit_area: float | None = None,
           count: int | None = None) -> None:
    """The unit's annual closure target."""
    session.add(AnnualTarget(year=year, unit_id=unit.id, closure_area_m2=area, closure_count=count,
                             permit_area_m2=permit_area))
    session.flush()
