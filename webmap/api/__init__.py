"""The JSON API (items, detections, transitions, tiles, search, heat) and its OpenAPI document."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api", template_folder="templates")

from webmap.api import views  # noqa: E402,F401  (routes register on bp)
