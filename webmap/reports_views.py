"""The "Reports" pages: the monthly report and weekly brief, their downloads, and the cockpit.

Blueprint ``reports_bp`` (also exported as ``bp`` for the factory's list), url_prefix
``/reports``. Every logged-in role, viewers included, may read and download reports.
Figures are computed on request from the event log (``reports``); a past period gives the
same figures whenever it is asked for.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, redirect, render_template, request, url_for
from flask_login import login_required
from markupsafe import Markup
from sqlalchemy import select

from geo.models import AdminUnit, UnitLevel
from reports import build, periods, render_html
from reports import config as rconfig
from reports import fmt as rfmt
from reports import scope as rscope
from reports.errors import PeriodError
from reports.generate import render_all
from reports.index import INDICATOR_LABELS, RATINGS
from reports.periods import Period
from webmap import db as webdb
from webmap.labels import english

reports_bp = Blueprint("reports", __name__, url_prefix="/reports", template_folder="reports_templates")
bp = reports_bp

KINDS = {"monthly": "month", "weekly": "week"}
COCKPIT_REFRESH_SECONDS = 60
MIME = {
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _lang() -> str:
    return "en" if english() else "zh"


def _period(kind: str, label: str) -> Period:
    if kind not in KINDS:
        raise PeriodError(f"unknown report kind '{kind}' (monthly or weekly)")
    return periods.month(label) if KINDS[kind] == "month" else periods.week(label)


def _config() -> rconfig.IndexConfig:
    data_dir = webdb.settings_value("DATA_DIR")
    return rconfig.load(webdb.settings_value("REPORT_CONFIG"), Path(data_dir) if data_dir else None)


def _build(period: Period, *, trend_length: int = build.TREND_LENGTH, with_map: bool = True) -> build.Report:
    session = webdb.session()
    sc = rscope.resolve(session, request.args.get("district") or None)
    return build.build(session, period, sc, _config(), lang=_lang(), trend_length=trend_length, with_map=with_map)


def _districts() -> list[str]:
    return list(webdb.session().scalars(
        select(AdminUnit.name).where(AdminUnit.level == UnitLevel.DISTRICT.value).order_by(AdminUnit.code)))


@reports_bp.route("/")
@login_required
def index() -> Any:
    """Recent months and weeks, with links to their reports."""
    now = periods.now_beijing()
    this_month = periods.containing(now)
    months = periods.trailing(this_month, 13)[::-1]
    weeks = periods.trailing(periods.containing(now, "week"), 8)[::-1]
    return render_template("reports/index.html", months=months, weeks=weeks, this_month=this_month,
                           districts=_districts(), district=request.args.get("district", ""), en=_lang() == "en")


@reports_bp.route("/<kind>")
@login_required
def pick(kind: str) -> Any:
    """The period form of the index page: redirect to ``/<kind>/<label>``."""
    label = (request.args.get("label") or "").strip()
    _period(kind, label)  # a clear 400 for a bad label
    district = request.args.get("district") or None
    return redirect(url_for("reports.show", kind=kind, label=label, district=district))


@reports_bp.route("/<kind>/<label>")
@login_required
def show(kind: str, label: str) -> Any:
    """The report page: the same content as ``index.html``, with download links."""
    period = _period(kind, label)
    report = _build(period)
    pngs = render_html.images(report)
    fragment = render_html.render_fragment(report, pngs)
    prev = periods.previous(period)
    nxt = periods.containing(period.end + timedelta(hours=1), period.kind)
    args = {"district": request.args["district"]} if request.args.get("district") else {}
    return render_template(
        "reports/show.html", report=report, fragment=fragment, css=Markup(render_html.stylesheet()),
        kind=kind, period=period, prev=prev, nxt=nxt, args=args, en=_lang() == "en",
    )


@reports_bp.route("/<kind>/<label>/report.<ext>")
@login_required
def download(kind: str, label: str, ext: str) -> Any:
    """The PDF or XLSX of a report, as an attachment."""
    if ext not in MIME:
        raise PeriodError(f"unknown format '{ext}' (pdf or xlsx)")
    period = _period(kind, label)
    report = _build(period)
    rendered = render_all(report)
    body = rendered.pdf if ext == "pdf" else rendered.xlsx
    name = f"report-{report.scope.district_name}-{period.label}.{ext}"
    return Response(body, mimetype=MIME[ext], headers={
        "Content-Disposition": f"attachment; filename=\"report-{period.label}.{ext}\"; "
                               f"filename*=UTF-8''{quote(name)}",
        "Cache-Control": "private, no-store",
    })


@reports_bp.route("/cockpit")
@login_required
def cockpit() -> Any:
    """The leaders' cockpit: this month's figures per street, computed now, refreshed automatically."""
    period = periods.containing(periods.now_beijing())
    report = _build(period, trend_length=1, with_map=False)
    en = _lang() == "en"
    return render_template(
        "reports/cockpit.html", report=report, period=period, refresh=COCKPIT_REFRESH_SECONDS, en=en,
        total=report.units[-1], figures=report.figures, indicator_labels=INDICATOR_LABELS,
        rating_label=lambda key: "—" if key is None else RATINGS[key][1 if en else 0],
        fmt=rfmt,
    )
