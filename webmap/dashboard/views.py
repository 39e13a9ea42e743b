"""Dashboard views."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import jsonify, render_template, request
from flask_login import login_required

from webmap import db as webdb
from webmap.dashboard import bp
from webmap.dashboard.counts import month_counts


def _month() -> str:
    return request.args.get("month") or date.today().strftime("%Y-%m")


@bp.route("/dashboard")
@login_required
def index() -> Any:
    """The month's key counts (district-wide, or the user's street)."""
    counts = month_counts(webdb.session(), webdb.scope(), _month())
    return render_template("dashboard/index.html", c=counts)


@bp.route("/api/dashboard")
@login_required
def counts_json() -> Any:
    """The same counts as JSON."""
    return jsonify(month_counts(webdb.session(), webdb.scope(), _month()))
