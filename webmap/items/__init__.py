"""Item pages: list, detail with timeline, transitions with evidence uploads."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("items", __name__, template_folder="templates")

from webmap.items import views  # noqa: E402,F401  (routes register on bp)
