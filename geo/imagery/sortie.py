"""The sortie log (出动记录): sorties per pilot, per street, per month, and pilot-shifts.

A *pilot-shift* (飞手人次) is one pilot flying on one calendar day (Beijing time), however
many sorties they fly that day: the reports count "548 sorties with 72 pilot-shifts".
Months and days are taken in Asia/Shanghai.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, literal_column, select
from sqlalchemy.orm import Session

from geo.models import AdminUnit, Scene, Sortie

TZ = "Asia/Shanghai"


@dataclass(frozen=True)
class Period:
    """A half-open time range [start, end); either end may be open."""

    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True)
class Tally:
    """Counts for one group (a pilot, a street or a month)."""

    key: str
    sorties: int
    pilot_shifts: int
    scenes: int


def _local(col: Any) -> Any:
    return func.timezone(TZ, col)


def _filtered(stmt: Select[Any], period: Period | None, street_id: int | None = None) -> Select[Any]:
    if period and period.start:
        stmt = stmt.where(Sortie.flown_at >= period.start)
    if period and period.end:
        stmt = stmt.where(Sortie.flown_at < period.end)
    if street_id is not None:
        stmt = stmt.where(Sortie.street_id == street_id)
    return stmt


def _scene_counts() -> Any:
    return (select(Scene.sortie_id, func.count().label("n")).where(Scene.sortie_id.is_not(None))
            .group_by(Scene.sortie_id).subquery())


def _tally(session: Session, key: Any, period: Period | None, street_id: int | None,
           outer_street: bool = False) -> list[Tally]:
    counts = _scene_counts()
    day = func.date(_local(Sortie.flown_at))
    shift = func.concat(Sortie.pilot, literal_column("'|'"), func.cast(day, type_=Sortie.pilot.type))
    label = (key if key is not None else literal_column("'all'")).label("key")
    stmt = (select(label, func.count(Sortie.id), func.count(func.distinct(shift)),
                   func.coalesce(func.sum(counts.c.n), 0))
            .select_from(Sortie).outerjoin(counts, counts.c.sortie_id == Sortie.id))
    if outer_street:
        stmt = stmt.outerjoin(AdminUnit, AdminUnit.id == Sortie.street_id)
    stmt = _filtered(stmt, period, street_id)
    if key is not None:
        stmt = stmt.group_by(key).order_by(func.count(Sortie.id).desc(), key)
    return [Tally(key=str(k) if k is not None else "—", sorties=int(s), pilot_shifts=int(p), scenes=int(n))
            for k, s, p, n in session.execute(stmt)]


def per_pilot(session: Session, period: Period | None = None, street_id: int | None = None) -> list[Tally]:
    """Sorties, pilot-shifts and scenes of each pilot, busiest first."""
    return _tally(session, Sortie.pilot, period, street_id)


def per_street(session: Session, period: Period | None = None) -> list[Tally]:
    """Sorties, pilot-shifts and scenes per street ('—' for sorties outside every street)."""
    return _tally(session, AdminUnit.name, period, None, outer_street=True)


def per_month(session: Session, period: Period | None = None, street_id: int | None = None) -> list[Tally]:
    """Sorties, pilot-shifts and scenes per month (``YYYY-MM``, Beijing time), newest first."""
    month = func.to_char(_local(Sortie.flown_at), "YYYY-MM")
    rows = _tally(session, month, period, street_id)
    return sorted(rows, key=lambda t: t.key, reverse=True)


def totals(session: Session, period: Period | None = None, street_id: int | None = None) -> Tally:
    """All sorties of the period: the figures the monthly report quotes."""
    rows = _tally(session, None, period, street_id)
    return rows[0] if rows else Tally("all", 0, 0, 0)


@dataclass(frozen=True)
class SortieRow:
    """One line of the sortie log."""

    id: int
    code: str
    pilot: str
    drone: str | None
    task: str | None
    flown_at: datetime
    street: str | None
    scene_ids: list[int]


def sortie_log(session: Session, period: Period | None = None, pilot: str | None = None,
               street_id: int | None = None, limit: int = 200) -> list[SortieRow]:
    """The newest sorties with their scenes."""
    stmt = (select(Sortie.id, Sortie.code, Sortie.pilot, Sortie.drone, Sortie.task, Sortie.flown_at,
                   AdminUnit.name, func.array_remove(func.array_agg(Scene.id), None))
            .select_from(Sortie).outerjoin(AdminUnit, AdminUnit.id == Sortie.street_id)
            .outerjoin(Scene, Scene.sortie_id == Sortie.id)
            .group_by(Sortie.id, AdminUnit.name).order_by(Sortie.flown_at.desc()).limit(limit))
    stmt = _filtered(stmt, period, street_id)
    if pilot:
        stmt = stmt.where(Sortie.pilot == pilot)
    return [SortieRow(id=r[0], code=r[1], pilot=r[2], drone=r[3], task=r[4], flown_at=r[5], street=r[6],
                      scene_ids=sorted(r[7] or [])) for r in session.execute(stmt)]
