"""Dashboard views."""

from __future__ import annotations

from typing import Any

from flask import render_template
from flask_login import login_required

from webmap.dashboard import bp


@bp.route("/dashboard")
@login_required
def index() -> Any:
    return render_template("dashboard/index.html")
