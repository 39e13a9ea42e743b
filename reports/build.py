"""Assemble everything a report shows: figures, index, ranking, trend and map data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from shapely import wkb
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from reports import index as rindex
from reports import indicators, periods
from reports.config import IndexConfig
from reports.indicators import Figures
from reports.periods import Period
from reports.scope import Scope

TREND_LENGTH = 12


@dataclass(frozen=True)
class MapItem:
    """A new item of the period on the map, with its status at the period's end."""

    code: str
    lon: float
    lat: float
    status: str
    area_m2: float


@dataclass
class Report:
    """The content of one report (monthly or weekly).

    Attributes:
        period: the reported month or week.
        scope: district and streets.
        config: the index configuration used.
        figures: unit key → figures of the period.
        units: streets, then unassigned, then the district total, in display order.
        district: index of the district total.
        ranking: streets ranked by index.
        trend_periods: the trailing periods (oldest first, ending with ``period``).
        trend: unit key → index per trailing period.
        map_items: the period's new items.
        boundaries: (name, geometry) of the streets.
        generated_at: when the report was built (Beijing time).
        lang: ``zh`` or ``en``.
    """

    period: Period
    scope: Scope
    config: IndexConfig
    figures: dict[int, Figures]
    units: list[Figures]
    district: rindex.UnitIndex
    ranking: list[rindex.UnitIndex]
    trend_periods: list[Period]
    trend: dict[int, list[float | None]]
    map_items: list[MapItem] = field(default_factory=list)
    boundaries: list[tuple[str, BaseGeometry]] = field(default_factory=list)
    generated_at: datetime = field(default_factory=periods.now_beijing)
    lang: str = "zh"

    @property
    def kind(self) -> str:
        """``month`` or ``week``."""
        return self.period.kind


MAP_ITEMS_SQL = """
SELECT DISTINCT ON (e.violation_id) v.code, e.to_status AS status, v.area_m2,
       ST_X(ST_PointOnSurface(v.geom)) AS lon, ST_Y(ST_PointOnSurface(v.geom)) AS lat
FROM violations v JOIN violation_events e ON e.violation_id = v.id AND e.occurred_at < :end
WHERE v.kind = 'new' AND v.discovered_at >= :start AND v.discovered_at < :end
  AND (v.street_id = ANY(CAST(:streets AS integer[])) OR (CAST(:unassigned AS boolean) AND v.street_id IS NULL))
ORDER BY e.violation_id, e.id DESC
"""

BOUNDARIES_SQL = """
SELECT name, ST_AsBinary(ST_SimplifyPreserveTopology(geom, 0.0001)) AS g
FROM admin_units WHERE id = ANY(CAST(:ids AS integer[])) ORDER BY code
"""


def map_items(session: Session, period: Period, scope: Scope) -> list[MapItem]:
    """New items first recorded in the period, each with its status at the period's end."""
    rows = session.execute(text(MAP_ITEMS_SQL), {
        "start": period.start, "end": period.end, "streets": scope.street_ids,
        "unassigned": scope.include_unassigned,
    }).mappings()
    return [MapItem(r["code"], float(r["lon"]), float(r["lat"]), r["status"], float(r["area_m2"])) for r in rows]


def boundaries(session: Session, scope: Scope) -> list[tuple[str, BaseGeometry]]:
    """Simplified street outlines."""
    rows = session.execute(text(BOUNDARIES_SQL), {"ids": scope.street_ids}).mappings()
    return [(r["name"], wkb.loads(bytes(r["g"]))) for r in rows if r["g"] is not None]


def build(session: Session, period: Period, scope: Scope, config: IndexConfig, *, lang: str = "zh",
          trend_length: int = TREND_LENGTH, with_map: bool = True) -> Report:
    """Compute a report's content in a few SQL statements.

    Args:
        period: the month or week.
        trend_length: how many trailing periods the trend shows (including ``period``).
        with_map: also fetch the map's items and outlines.
    """
    trailing = periods.trailing(period, trend_length)
    table = indicators.compute(session, trailing, scope, config)
    current: dict[int, Figures] = table[len(trailing) - 1]
    report = Report(
        period=period,
        scope=scope,
        config=config,
        figures=current,
        units=indicators.ordered_units(scope, current),
        district=rindex.district_index(current, period, config),
        ranking=rindex.ranking(current, scope, period, config),
        trend_periods=trailing,
        trend=rindex.trend(table, trailing, scope, config),
        lang=lang,
    )
    if with_map:
        report.map_items = map_items(session, period, scope)
        report.boundaries = boundaries(session, scope)
    return report
