"""The report's tables as plain data: headers, typed cells, one list per table.

HTML and PDF format the cells (``fmt``); the XLSX keeps numbers as numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reports.build import Report
from reports.index import INDICATOR_LABELS, RATINGS
from reports.labels import translator

#: Cell kinds: text, int, area (m²), pct (fraction), days, score (0–100).
KINDS = ("text", "int", "area", "pct", "days", "score")


@dataclass(frozen=True)
class Column:
    """A column: header and the kind of its cells."""

    header: str
    kind: str


@dataclass(frozen=True)
class Table:
    """A titled table.

    Attributes:
        key: short identifier (also the XLSX sheet name).
        title: heading shown above it.
        columns: the columns.
        rows: rows of raw values (None = undefined, shown as "—").
        total_last: the last row is the district total (shown in bold).
    """

    key: str
    title: str
    columns: list[Column]
    rows: list[list[Any]]
    total_last: bool = True


def _cols(t: Any, spec: list[tuple[str, str]]) -> list[Column]:
    return [Column(t(key), kind) for key, kind in spec]


def build_tables(report: Report) -> list[Table]:
    """Every table of the report, in order."""
    t = translator(report.lang)
    en = report.lang == "en"
    units = report.units
    out: list[Table] = []

    spec = [("street", "text"), ("found_total", "int"), ("found_imagery", "int"), ("found_patrol", "int"),
            ("found_complaint", "int"), ("found_area", "area"), ("proactive_rate", "pct")]
    out.append(Table("found", t("t_found"), _cols(t, spec), [
        [f.name, f.found_total, f.found_imagery, f.found_patrol, f.found_complaint, f.found_area, f.proactive_rate]
        for f in units]))

    spec = [("street", "text"), ("confirmed_new", "int"), ("disposed_in_time", "int"), ("disposal_due", "int"),
            ("disposal_pending", "int"), ("lawful_disposal_rate", "pct"), ("found_total", "int"),
            ("removed_new", "int"), ("found_area", "area"), ("removed_new_area", "area"), ("zero_growth", "text")]
    out.append(Table("disposal", t("t_disposal"), _cols(t, spec), [
        [f.name, f.confirmed_new, f.disposed_in_time, f.disposal_due, f.disposal_pending, f.lawful_disposal_rate,
         f.found_total, f.removed_new, f.found_area, f.removed_new_area,
         t("kept") if f.zero_growth_kept else t("not_kept")] for f in units]))

    spec = [("street", "text"), ("closed_demolition", "int"), ("closed_demolition_area", "area"),
            ("closed_permit", "int"), ("closed_permit_area", "area"), ("closed_area", "area"),
            ("target_area", "area"), ("closure_progress", "pct"), ("permit_target_area", "area"),
            ("permit_progress", "pct"), ("closed_other", "int")]
    out.append(Table("closure", t("t_closure"), _cols(t, spec), [
        [f.name, f.closed_demolition, f.closed_demolition_area, f.closed_permit, f.closed_permit_area,
         f.closed_area, f.target_area, f.closure_progress, f.permit_target_area, f.permit_progress,
         f.closed_other] for f in units]))

    spec = [("street", "text"), ("annotated", "int"), ("annotated_area", "area"), ("lifted", "int"),
            ("closed_in_period", "int"), ("median_days", "days"), ("closed_new_in_period", "int"),
            ("median_days_new", "days"), ("sorties", "int"), ("pilot_shifts", "int")]
    out.append(Table("annotation", t("t_annotation"), _cols(t, spec), [
        [f.name, f.annotated, f.annotated_area, f.lifted, f.closed_in_period, f.median_days_to_closure,
         f.closed_new_in_period, f.median_days_new, f.sorties, f.pilot_shifts] for f in units]))

    spec = [("street", "text"), ("complaints_received", "int"), ("complaints_true", "int"),
            ("complaints_resolved", "int"), ("complaints_in_progress", "int"), ("complaint_completion", "pct"),
            ("complaints_untrue", "int"), ("complaints_explained", "int"), ("complaints_pending", "int")]
    out.append(Table("complaints", t("t_complaints"), _cols(t, spec), [
        [f.name, f.complaints_received, f.complaints_true, f.complaints_resolved, f.complaints_in_progress,
         f.complaint_completion, f.complaints_untrue, f.complaints_explained, f.complaints_pending]
        for f in units]))

    keys = list(INDICATOR_LABELS)
    cols = [Column(t("rank"), "int"), Column(t("street"), "text")]
    cols += [Column(INDICATOR_LABELS[k][1 if en else 0], "score") for k in keys]
    cols += [Column(t("index"), "score"), Column(t("rating"), "text"), Column(t("flag"), "text")]
    rows: list[list[Any]] = []
    for r in [*report.ranking, report.district]:
        rate = RATINGS[r.rating][1 if en else 0] if r.rating else None
        flag = t("bottom") if r.flagged else ""
        rank: Any = r.rank if r is not report.district else None
        name = r.name if r is not report.district else f"{r.name}（{t('total')}）"
        rows.append([rank, name, *[r.scores[k] for k in keys], r.value, rate, flag])
    out.append(Table("ranking", t("t_ranking"), cols, rows))

    labels = [p.label[2:] if p.kind == "month" else p.label[5:] for p in report.trend_periods]
    cols = [Column(t("street"), "text")] + [Column(lab, "score") for lab in labels]
    trend_rows = [[report.scope.name_of(u), *vals] for u, vals in report.trend.items()]
    out.append(Table("trend", t("t_trend"), cols, trend_rows))
    return out
