"""The review queue of detections: confirm, dismiss, merge, assign — fast, by keyboard."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("review", __name__, template_folder="templates")

from webmap.review import views  # noqa: E402,F401  (routes register on bp)
