"""The report as HTML: a standalone ``index.html`` (charts embedded) and a fragment for the web page."""

from __future__ import annotations

import base64
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from reports import charts, fmt
from reports.build import Report
from reports.index import RATINGS
from reports.labels import translator
from reports.map import map_png
from reports.tables import Table, build_tables

TEMPLATES = Path(__file__).with_name("templates")


@lru_cache(maxsize=1)
def _env() -> Environment:
    return Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]),
                       trim_blocks=True, lstrip_blocks=True)


def cell(value: Any, kind: str) -> str:
    """A table cell as printed ("—" for an undefined value)."""
    if kind == "text":
        return "" if value is None else str(value)
    return {"int": fmt.count, "area": fmt.area, "pct": fmt.pct, "days": fmt.days, "score": fmt.score}[kind](value)


def images(report: Report) -> dict[str, bytes]:
    """The PNG charts and map of a report (computed once, shared by HTML and PDF)."""
    lang = report.lang
    t = translator(lang)
    names = {u: report.scope.name_of(u) for u in report.trend}
    labels = [p.label[2:] if p.kind == "month" else p.label[5:] for p in report.trend_periods]
    out = {
        "ranking": charts.ranking_chart(report.ranking, lang),
        "trend": charts.trend_chart(labels, {names[u]: v for u, v in report.trend.items()}, lang),
        "found_removed": charts.found_removed_chart(report.units[:-1], lang),
        "map": map_png(report.boundaries, report.map_items, t("t_map"), lang),
    }
    return out


def data_uri(png: bytes) -> str:
    """A ``data:`` URI of PNG bytes."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _context(report: Report, pngs: dict[str, bytes], tables: list[Table] | None) -> dict[str, Any]:
    t = translator(report.lang)
    en = report.lang == "en"
    return {
        "report": report,
        "t": t,
        "title": t("monthly_title" if report.kind == "month" else "weekly_title"),
        "period_title": report.period.title_en() if en else report.period.title_zh(),
        "config_name": Path(report.config.source).name,
        "tables": tables if tables is not None else build_tables(report),
        "total": report.units[-1],
        "images": {k: data_uri(v) for k, v in pngs.items()},
        "pct": fmt.pct, "count": fmt.count, "score": fmt.score, "cell": cell,
        "rating_label": lambda key: fmt.DASH if key is None else RATINGS[key][1 if en else 0],
    }


def render_fragment(report: Report, pngs: dict[str, bytes] | None = None, tables: list[Table] | None = None) -> Markup:
    """The report's content as an HTML fragment (a ``<div class="wj-report">``)."""
    ctx = _context(report, images(report) if pngs is None else pngs, tables)
    return Markup(_env().get_template("report_body.html").render(**ctx))


def stylesheet() -> str:
    """The report's CSS (print rules included)."""
    return (TEMPLATES / "report.css").read_text(encoding="utf-8")


def render(report: Report, pngs: dict[str, bytes] | None = None, tables: list[Table] | None = None) -> str:
    """The standalone ``index.html`` document."""
    pngs = images(report) if pngs is None else pngs
    ctx = _context(report, pngs, tables)
    body = render_fragment(report, pngs, ctx["tables"])
    return _env().get_template("report.html").render(**ctx, body=body, css=Markup(stylesheet()))
