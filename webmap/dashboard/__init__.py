"""The dashboard: the month's key counts."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("dashboard", __name__, template_folder="templates")

from webmap.dashboard import views  # noqa: E402,F401  (routes register on bp)
