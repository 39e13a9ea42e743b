"""The indicators of the monthly monitoring index, computed in SQL from the event log.

Every figure is the log *as it stood at the end of the period*: only events with
``occurred_at`` before the period's end count, and an item's state at that moment is
derived from those events (never from ``violations.status``, which is today's). A report
for March therefore gives the same figures whenever it is run.

Definitions (per street, and for the district total):

* **new items found** — ``kind = 'new'`` items first recorded in the period and not
  dismissed (不属实) by its end, by discovery source;
* **proactive discovery rate** — found by imagery or patrol / all found;
* **lawful disposal rate** — new items confirmed in the period and disposed (a status of
  the configuration's list) within the deadline / those of them that are due, i.e. disposed
  or past the deadline at the period's end (items still inside the deadline are shown apart);
* **dynamic zero growth** — count and area of new items demolished in the period vs found;
* **closure progress** — closures (销项) from 1 January to the period's end by
  :func:`geo.workflow.closure_kind` of the status they closed from (demolition, 补证销项, other),
  count and m², against the year's targets (``annual_targets``);
* **annotations** — title annotations (注记) and lifts (解注) in the period;
* **complaint completion** — complaints received in the period: resolved / true, with untrue
  and non-key explained apart (status at the period's end);
* **median days to closure** — from first detection to closure, items closed in the period
  (all items, and new items alone: the index scores the new items' median);
* **drone sorties** and **pilot-shifts** (distinct pilot and Beijing day) in the period.

Areas are the event's recorded ``area_m2`` when given (for a closure, else the area recorded at
its demolition or permit step), else the item's area. An item's street, kind, source and area
are its current attributes: the log records status changes, so moving an item to another
street moves its history with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from itertools import pairwise
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo import workflow
from geo.models import Status
from reports.config import IndexConfig
from reports.periods import Period
from reports.scope import TOTAL, UNASSIGNED, Scope


def ratio(num: float | None, den: float | None) -> float | None:
    """``num / den``, or None when the denominator is empty (shown as "—", never 0 %)."""
    if num is None or not den:
        return None
    return float(num) / float(den)


@dataclass
class Figures:
    """Raw figures of one unit (street or district total) for one period."""

    unit: int
    name: str
    # new items
    found_total: int = 0
    found_imagery: int = 0
    found_patrol: int = 0
    found_complaint: int = 0
    found_area: float = 0.0
    confirmed_new: int = 0
    disposed_in_time: int = 0
    disposal_due: int = 0
    removed_new: int = 0
    removed_new_area: float = 0.0
    demolished_all: int = 0
    demolished_all_area: float = 0.0
    # closures year to date
    closed_demolition: int = 0
    closed_demolition_area: float = 0.0
    closed_permit: int = 0
    closed_permit_area: float = 0.0
    closed_other: int = 0
    closed_other_area: float = 0.0
    target_area: float | None = None
    target_count: int | None = None
    permit_target_area: float | None = None
    permit_target_count: int | None = None
    # period events
    annotated: int = 0
    annotated_area: float = 0.0
    lifted: int = 0
    closed_in_period: int = 0
    median_days_to_closure: float | None = None
    closed_new_in_period: int = 0
    median_days_new: float | None = None
    # complaints
    complaints_received: int = 0
    complaints_true: int = 0
    complaints_resolved: int = 0
    complaints_untrue: int = 0
    complaints_explained: int = 0
    complaints_pending: int = 0
    # drones
    sorties: int = 0
    pilot_shifts: int = 0

    # ------------------------------------------------------------------ derived rates
    @property
    def proactive_rate(self) -> float | None:
        """主动发现率: imagery + patrol finds / all new finds."""
        return ratio(self.found_imagery + self.found_patrol, self.found_total)

    @property
    def lawful_disposal_rate(self) -> float | None:
        """依法处置率: disposed within the deadline / due confirmed new items."""
        return ratio(self.disposed_in_time, self.disposal_due)

    @property
    def disposal_pending(self) -> int:
        """Confirmed new items still inside their deadline, not yet disposed."""
        return self.confirmed_new - self.disposal_due

    @property
    def zero_growth_kept(self) -> bool:
        """动态零增长: at least as many new items removed as found."""
        return self.removed_new >= self.found_total

    @property
    def closed_count(self) -> int:
        """Closures by demolition and 补证销项, year to date."""
        return self.closed_demolition + self.closed_permit

    @property
    def closed_area(self) -> float:
        """m² closed by demolition and 补证销项, year to date."""
        return self.closed_demolition_area + self.closed_permit_area

    @property
    def closure_progress(self) -> float | None:
        """Closed m² year to date / annual target m²."""
        return ratio(self.closed_area, self.target_area)

    @property
    def closure_count_progress(self) -> float | None:
        """Closed items year to date / annual target count."""
        return ratio(self.closed_count, self.target_count)

    @property
    def permit_progress(self) -> float | None:
        """补证销项 m² year to date / its own annual target."""
        return ratio(self.closed_permit_area, self.permit_target_area)

    @property
    def complaint_completion(self) -> float | None:
        """诉件办结率: resolved true complaints / true complaints."""
        return ratio(self.complaints_resolved, self.complaints_true)

    @property
    def complaints_in_progress(self) -> int:
        """True complaints not yet resolved."""
        return self.complaints_true - self.complaints_resolved

    def as_dict(self) -> dict[str, Any]:
        """Every raw figure and derived rate (for comparisons and exports)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        for prop in ("proactive_rate", "lawful_disposal_rate", "disposal_pending", "zero_growth_kept",
                     "closed_count", "closed_area", "closure_progress", "closure_count_progress",
                     "permit_progress", "complaint_completion", "complaints_in_progress"):
            out[prop] = getattr(self, prop)
        return out


#: period index (0-based, in the order given) → unit key → figures.
Table = dict[int, dict[int, Figures]]


def _unit_expr(col: str) -> str:
    return f"CASE WHEN GROUPING({col}) = 1 THEN {TOTAL} ELSE coalesce({col}, {UNASSIGNED}) END"


def _scope_sql(alias: str) -> str:
    return (f"({alias}.street_id = ANY(CAST(:streets AS integer[]))"
            f" OR (CAST(:unassigned AS boolean) AND {alias}.street_id IS NULL))")


def closure_kind_sql(column: str) -> str:
    """A SQL CASE giving :func:`geo.workflow.closure_kind` of the status in ``column``."""
    whens = " ".join(
        f"WHEN '{s.value}' THEN '{kind}'" for s in Status if (kind := workflow.closure_kind(s)) is not None
    )
    return f"CASE {column} {whens} END"


_PERIODS = """p AS (
    SELECT pstart, pend, (pidx - 1)::int AS pidx
    FROM unnest(CAST(:starts AS timestamptz[]), CAST(:ends AS timestamptz[])) WITH ORDINALITY AS u(pstart, pend, pidx)
)"""

NEW_ITEMS_SQL = f"""
WITH {_PERIODS},
nv AS (
    SELECT v.id, v.street_id, v.source, v.area_m2 FROM violations v
    WHERE v.kind = 'new' AND v.discovered_at < :maxend AND {_scope_sql('v')}
),
it AS (
    SELECT nv.id, nv.street_id, nv.source, nv.area_m2,
           min(e.occurred_at) AS first_at,
           min(e.occurred_at) FILTER (WHERE e.to_status = 'confirmed') AS confirmed_at,
           min(e.occurred_at) FILTER (WHERE e.to_status = 'dismissed') AS dismissed_at,
           min(e.occurred_at) FILTER (WHERE e.to_status = ANY(CAST(:disposal AS text[]))) AS disposed_at
    FROM nv JOIN violation_events e ON e.violation_id = nv.id AND e.occurred_at < :maxend
    GROUP BY nv.id, nv.street_id, nv.source, nv.area_m2
),
x AS (
    SELECT p.pidx, p.pend, it.street_id, it.source, it.area_m2, it.disposed_at,
           (it.first_at >= p.pstart AND it.first_at < p.pend
            AND (it.dismissed_at IS NULL OR it.dismissed_at >= p.pend)) AS found,
           coalesce(it.confirmed_at >= p.pstart AND it.confirmed_at < p.pend, false) AS conf,
           it.confirmed_at + make_interval(days => CAST(:deadline AS integer)) AS due_at
    FROM it JOIN p ON (it.first_at >= p.pstart AND it.first_at < p.pend)
                   OR (it.confirmed_at >= p.pstart AND it.confirmed_at < p.pend)
)
SELECT pidx, {_unit_expr('street_id')} AS unit,
       count(*) FILTER (WHERE found) AS found_total,
       count(*) FILTER (WHERE found AND source = 'imagery') AS found_imagery,
       count(*) FILTER (WHERE found AND source = 'patrol') AS found_patrol,
       count(*) FILTER (WHERE found AND source = 'complaint') AS found_complaint,
       coalesce(sum(area_m2) FILTER (WHERE found), 0) AS found_area,
       count(*) FILTER (WHERE conf) AS confirmed_new,
       count(*) FILTER (WHERE conf AND disposed_at < pend AND disposed_at <= due_at) AS disposed_in_time,
       count(*) FILTER (WHERE conf AND ((disposed_at < pend AND disposed_at <= due_at) OR due_at <= pend))
           AS disposal_due
FROM x GROUP BY GROUPING SETS ((pidx, street_id), (pidx))
"""

PERIOD_EVENTS_SQL = f"""
WITH ev AS (
    -- periods are contiguous: the bucket of an event is its period (1-based; 0 and n+1 are outside)
    SELECT width_bucket(e.occurred_at, CAST(:bounds AS timestamptz[])) - 1 AS pidx, v.street_id,
           v.kind = 'new' AS is_new, e.to_status, coalesce(e.area_m2, v.area_m2) AS area
    FROM violation_events e JOIN violations v ON v.id = e.violation_id
    WHERE e.to_status IN ('demolished', 'annotated', 'annotation_lifted')
      AND e.occurred_at >= :minstart AND e.occurred_at < :maxend AND {_scope_sql('v')}
),
pre AS (
    SELECT pidx, street_id, is_new, to_status, count(*) AS n, sum(area) AS area
    FROM ev GROUP BY 1, 2, 3, 4
)
SELECT pidx, {_unit_expr('street_id')} AS unit,
       coalesce(sum(n) FILTER (WHERE to_status = 'demolished' AND is_new), 0) AS removed_new,
       coalesce(sum(area) FILTER (WHERE to_status = 'demolished' AND is_new), 0) AS removed_new_area,
       coalesce(sum(n) FILTER (WHERE to_status = 'demolished'), 0) AS demolished_all,
       coalesce(sum(area) FILTER (WHERE to_status = 'demolished'), 0) AS demolished_all_area,
       coalesce(sum(n) FILTER (WHERE to_status = 'annotated'), 0) AS annotated,
       coalesce(sum(area) FILTER (WHERE to_status = 'annotated'), 0) AS annotated_area,
       coalesce(sum(n) FILTER (WHERE to_status = 'annotation_lifted'), 0) AS lifted
FROM pre GROUP BY GROUPING SETS ((pidx, street_id), (pidx))
"""

CLOSED_SQL = f"""
WITH c AS (
    SELECT width_bucket(e.occurred_at, CAST(:bounds AS timestamptz[])) - 1 AS pidx, v.street_id,
           extract(epoch FROM e.occurred_at - v.discovered_at) / 86400.0 AS days, v.kind = 'new' AS is_new
    FROM violation_events e JOIN violations v ON v.id = e.violation_id
    WHERE e.to_status = 'closed' AND e.occurred_at >= :minstart AND e.occurred_at < :maxend
      AND {_scope_sql('v')}
)
SELECT pidx, {_unit_expr('street_id')} AS unit,
       count(*) AS closed_in_period,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY days) AS median_days_to_closure,
       count(*) FILTER (WHERE is_new) AS closed_new_in_period,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY days) FILTER (WHERE is_new) AS median_days_new
FROM c GROUP BY GROUPING SETS ((pidx, street_id), (pidx))
"""

CLOSURES_SQL = f"""
WITH p AS (
    SELECT ystart, pend, (pidx - 1)::int AS pidx
    FROM unnest(CAST(:ystartdays AS date[]), CAST(:enddays AS date[])) WITH ORDINALITY AS u(ystart, pend, pidx)
),
step_area AS (
    -- the area recorded at the demolition / permit step, when the closure itself records none
    SELECT DISTINCT ON (violation_id) violation_id, area_m2
    FROM violation_events
    WHERE to_status IN ('demolished', 'permit_granted') AND area_m2 IS NOT NULL AND occurred_at < :maxend
    ORDER BY violation_id, id DESC
),
daily AS (
    SELECT v.street_id, (e.occurred_at AT TIME ZONE 'Asia/Shanghai')::date AS day,
           {closure_kind_sql('e.from_status')} AS ck,
           count(*) AS n,
           sum(coalesce(e.area_m2, sa.area_m2, v.area_m2)) AS area
    FROM violation_events e JOIN violations v ON v.id = e.violation_id
    LEFT JOIN step_area sa ON sa.violation_id = e.violation_id
    WHERE e.to_status = 'closed' AND e.occurred_at >= :minystart AND e.occurred_at < :maxend
      AND {_scope_sql('v')}
    GROUP BY 1, 2, 3
)
SELECT pidx, {_unit_expr('street_id')} AS unit,
       coalesce(sum(n) FILTER (WHERE ck = 'demolition'), 0) AS closed_demolition,
       coalesce(sum(area) FILTER (WHERE ck = 'demolition'), 0) AS closed_demolition_area,
       coalesce(sum(n) FILTER (WHERE ck = 'permit'), 0) AS closed_permit,
       coalesce(sum(area) FILTER (WHERE ck = 'permit'), 0) AS closed_permit_area,
       coalesce(sum(n) FILTER (WHERE ck IS DISTINCT FROM 'demolition' AND ck IS DISTINCT FROM 'permit'), 0)
           AS closed_other,
       coalesce(sum(area) FILTER (WHERE ck IS DISTINCT FROM 'demolition' AND ck IS DISTINCT FROM 'permit'), 0)
           AS closed_other_area
FROM daily JOIN p ON daily.day >= p.ystart AND daily.day < p.pend
GROUP BY GROUPING SETS ((pidx, street_id), (pidx))
"""

COMPLAINTS_SQL = f"""
WITH {_PERIODS},
c AS (
    SELECT p.pidx, c.street_id,
           CASE WHEN c.explained_at < p.pend THEN 'explained'
                WHEN c.verdict = 'untrue' AND coalesce(c.verified_at, c.received_at) < p.pend THEN 'untrue'
                WHEN c.verdict = 'true' AND coalesce(c.verified_at, c.received_at) < p.pend THEN 'true'
                ELSE 'pending' END AS cat,
           coalesce(c.resolved_at < p.pend, false) AS resolved
    FROM p JOIN complaints c ON c.received_at >= p.pstart AND c.received_at < p.pend
    WHERE {_scope_sql('c')}
)
SELECT pidx, {_unit_expr('street_id')} AS unit,
       count(*) AS complaints_received,
       count(*) FILTER (WHERE cat = 'true') AS complaints_true,
       count(*) FILTER (WHERE cat = 'true' AND resolved) AS complaints_resolved,
       count(*) FILTER (WHERE cat = 'untrue') AS complaints_untrue,
       count(*) FILTER (WHERE cat = 'explained') AS complaints_explained,
       count(*) FILTER (WHERE cat = 'pending') AS complaints_pending
FROM c GROUP BY GROUPING SETS ((pidx, street_id), (pidx))
"""

SORTIES_SQL = f"""
WITH {_PERIODS}
SELECT p.pidx, {_unit_expr('s.street_id')} AS unit,
       count(*) AS sorties,
       count(DISTINCT s.pilot || '|' || ((s.flown_at AT TIME ZONE 'Asia/Shanghai')::date)::text) AS pilot_shifts
FROM p JOIN sorties s ON s.flown_at >= p.pstart AND s.flown_at < p.pend
WHERE {_scope_sql('s')}
GROUP BY GROUPING SETS ((p.pidx, s.street_id), (p.pidx))
"""

TARGETS_SQL = """
SELECT year, unit_id, closure_area_m2, closure_count, permit_area_m2, permit_count
FROM annual_targets WHERE year = ANY(CAST(:years AS integer[])) AND unit_id = ANY(CAST(:units AS integer[]))
"""


def compute(session: Session, periods: Sequence[Period], scope: Scope, config: IndexConfig) -> Table:
    """Figures of every street and the district total for each period.

    Args:
        periods: contiguous periods in order (months or weeks), e.g. the trailing 12 months.
        scope: the district and streets (see :func:`reports.scope.resolve`).
        config: gives the disposal deadline and statuses.

    Returns:
        ``table[i][unit]`` for period ``periods[i]``; ``unit`` is a street id,
        :data:`~reports.scope.TOTAL` or :data:`~reports.scope.UNASSIGNED`. Every street of
        the scope and the total are present even when they have no figures.
    """
    if not periods:
        return {}
    starts = [p.start for p in periods]
    ends = [p.end for p in periods]
    if any(a.end != b.start for a, b in pairwise(periods)):
        raise ValueError("periods must be contiguous and in order (e.g. periods.trailing(...))")
    base: dict[str, Any] = {
        "starts": starts,
        "ends": ends,
        "minstart": starts[0],
        "maxend": ends[-1],
        "bounds": [*starts, ends[-1]],
        "streets": scope.street_ids,
        "unassigned": scope.include_unassigned,
    }
    table: Table = {
        i: {u: Figures(u, scope.name_of(u)) for u in [*scope.street_ids, TOTAL]} for i in range(len(periods))
    }

    # enough memory for hashed aggregates over a district's events (this transaction only)
    session.execute(text("SET LOCAL work_mem = '64MB'"))

    def merge(sql: str, params: dict[str, Any]) -> None:
        for row in session.execute(text(sql), params).mappings():
            unit = int(row["unit"])
            fig = table[int(row["pidx"])].setdefault(unit, Figures(unit, scope.name_of(unit)))
            for key, val in row.items():
                if key in ("pidx", "unit"):
                    continue
                current = getattr(fig, key)
                setattr(fig, key, _cast(val, current))

    merge(NEW_ITEMS_SQL, {**base, "disposal": list(config.disposal_statuses), "deadline": config.deadline_days})
    merge(PERIOD_EVENTS_SQL, base)
    merge(CLOSED_SQL, base)
    merge(CLOSURES_SQL, {
        **base,
        "ystartdays": [p.year_start.date() for p in periods],
        "enddays": [p.end.date() for p in periods],
        "minystart": min(p.year_start for p in periods),
    })
    merge(COMPLAINTS_SQL, base)
    merge(SORTIES_SQL, base)
    _attach_targets(session, periods, scope, table)
    return table


def _cast(val: Any, current: Any) -> Any:
    if val is None:
        return None
    if isinstance(current, int) and not isinstance(current, bool):
        return int(val)
    return float(val)


def _attach_targets(session: Session, periods: Sequence[Period], scope: Scope, table: Table) -> None:
    units = [*scope.street_ids, *([scope.district_id] if scope.district_id else [])]
    years = sorted({p.year for p in periods})
    rows = session.execute(text(TARGETS_SQL), {"years": years, "units": units}).mappings().all()
    by_key = {(r["year"], r["unit_id"]): r for r in rows}
    cols = (("target_area", "closure_area_m2", float), ("target_count", "closure_count", int),
            ("permit_target_area", "permit_area_m2", float), ("permit_target_count", "permit_count", int))
    for i, period in enumerate(periods):
        for unit, fig in table[i].items():
            if unit == UNASSIGNED:
                continue
            if unit == TOTAL:
                row = by_key.get((period.year, scope.district_id))
                if row is None:  # no district row: the sum of the streets' targets
                    street_rows = [by_key[(period.year, s)] for s in scope.street_ids if (period.year, s) in by_key]
                    for attr, col, typ in cols:
                        vals = [r[col] for r in street_rows if r[col] is not None]
                        setattr(fig, attr, typ(sum(vals)) if vals else None)
                    continue
            else:
                row = by_key.get((period.year, unit))
            if row is not None:
                for attr, col, typ in cols:
                    setattr(fig, attr, typ(row[col]) if row[col] is not None else None)


def ordered_units(scope: Scope, figures: dict[int, Figures]) -> list[Figures]:
    """Streets in scope order, then items with no street (if any), then the district total."""
    out = [figures[s] for s in scope.street_ids if s in figures]
    if UNASSIGNED in figures:
        out.append(figures[UNASSIGNED])
    out.append(figures[TOTAL])
    return out
