"""The month's key counts for the dashboard, in the user's scope (one query per block)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import ValidationError
from geo.scope import Scope, street_sql


def month_bounds(month: str) -> tuple[date, date]:
    """First day of ``month`` (YYYY-MM) and of the month after.

    Raises:
        ValidationError: not a YYYY-MM month.
    """
    try:
        year, mon = (int(p) for p in month.split("-"))
        first = date(year, mon, 1)
    except ValueError as exc:
        raise ValidationError(f"month: '{month}' is not YYYY-MM") from exc
    nxt = date(year + (mon == 12), 1 if mon == 12 else mon + 1, 1)
    return first, nxt


_LOCAL = "AT TIME ZONE 'Asia/Shanghai'"


def month_counts(session: Session, scope: Scope, month: str) -> dict[str, Any]:
    """Key counts of ``month`` (Shanghai time) for the district, or the user's street."""
    first, nxt = month_bounds(month)
    scope_v, params = street_sql(scope, "v.street_id")
    params.update(first=first, nxt=nxt)
    in_month = f"(CAST(:first AS timestamp) {_LOCAL}) AND {{col}} < (CAST(:nxt AS timestamp) {_LOCAL})"
    found = session.execute(text(f"""
        SELECT count(*) FILTER (WHERE v.kind = 'new') AS new_found,
               coalesce(sum(v.area_m2) FILTER (WHERE v.kind = 'new'), 0) AS new_area,
               count(*) FILTER (WHERE v.kind = 'new' AND v.source IN ('imagery', 'patrol')) AS proactive,
               count(*) FILTER (WHERE v.kind = 'stock') AS stock_found
        FROM violations v
        WHERE {scope_v} AND v.discovered_at >= {in_month.format(col='v.discovered_at')}
    """), params).one()
    steps = session.execute(text(f"""
        SELECT e.to_status, count(*) AS n, coalesce(sum(coalesce(e.area_m2, v.area_m2)), 0) AS area
        FROM violation_events e JOIN violations v ON v.id = e.violation_id
        WHERE {scope_v} AND e.from_status IS NOT NULL
          AND e.occurred_at >= {in_month.format(col='e.occurred_at')}
        GROUP BY e.to_status
    """), params).all()
    by_step = {r.to_status: {"n": int(r.n), "area": float(r.area)} for r in steps}
    scope_d, dparams = street_sql(scope, "d.street_id")
    dparams.update(params)
    dets = session.execute(text(f"""
        SELECT count(*) FILTER (WHERE d.review_status = 'pending') AS pending,
               count(*) FILTER (WHERE d.review_status <> 'pending' AND d.reviewed_at >= {
                   in_month.format(col='d.reviewed_at')}) AS reviewed
        FROM detections d WHERE {scope_d}
    """), dparams).one()
    scope_c, cparams = street_sql(scope, "c.street_id")
    cparams.update(params)
    comp = session.execute(text(f"""
        SELECT count(*) AS received, count(*) FILTER (WHERE c.verdict = 'true') AS true_,
               count(*) FILTER (WHERE c.resolved_at IS NOT NULL) AS resolved
        FROM complaints c WHERE {scope_c} AND c.received_at >= {in_month.format(col='c.received_at')}
    """), cparams).one()
    streets = session.execute(text(f"""
        SELECT u.id, u.name,
               (SELECT count(*) FROM violations v WHERE v.street_id = u.id AND v.kind = 'new'
                  AND v.discovered_at >= {in_month.format(col='v.discovered_at')}) AS new_found,
               (SELECT count(*) FROM violation_events e JOIN violations v ON v.id = e.violation_id
                  WHERE v.street_id = u.id AND e.to_status = 'demolished'
                  AND e.occurred_at >= {in_month.format(col='e.occurred_at')}) AS demolished,
               (SELECT count(*) FROM violation_events e JOIN violations v ON v.id = e.violation_id
                  WHERE v.street_id = u.id AND e.to_status = 'closed'
                  AND e.occurred_at >= {in_month.format(col='e.occurred_at')}) AS closed,
               (SELECT count(*) FROM detections d WHERE d.street_id = u.id AND d.review_status = 'pending') AS pending
        FROM admin_units u
        WHERE u.level = 'street' AND {street_sql(scope, 'u.id')[0]}
        ORDER BY u.code
    """), params).all()
    new_found = int(found.new_found)
    return {
        "month": month,
        "new_found": new_found,
        "new_area": float(found.new_area),
        "stock_found": int(found.stock_found),
        "proactive_rate": (int(found.proactive) / new_found) if new_found else None,
        "steps": by_step,
        "detections_pending": int(dets.pending),
        "detections_reviewed": int(dets.reviewed),
        "complaints_received": int(comp.received),
        "complaints_true": int(comp.true_),
        "complaints_resolved": int(comp.resolved),
        "streets": [dict(r._mapping) for r in streets],
    }
