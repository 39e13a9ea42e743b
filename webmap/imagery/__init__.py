"""Imagery on the web: map tiles, resumable uploads (tus 1.0), the upload page, the sortie log.

Blueprint ``imagery`` (no url_prefix; every route is absolute):

* ``GET /tiles/scenes/<id>/<z>/<x>/<y>.png|.webp`` — XYZ tiles of one scene;
* ``GET /tiles/latest/<z>/<x>/<y>.png|.webp`` — the newest imagery at each place (mosaic);
* ``OPTIONS|POST /api/uploads``, ``HEAD|PATCH|DELETE /api/uploads/<uid>`` — tus 1.0 core +
  creation + termination; ``GET /api/uploads/<uid>/status`` — processing state (JSON);
* ``GET /api/scenes/<id>/status`` — the scene's detection job (JSON);
* ``GET /imagery/upload`` — the upload page; ``GET /imagery/sorties`` — the sortie log;
  ``GET /imagery/scenes/<id>`` — one scene with its map and job progress.

Uploading needs the role drone, office or admin; everything else any logged-in user.

Configuration (``app.config``): ``DATA_DIR``; ``IMAGERY_CHECK_DISTRICT`` (default True: the
footprint must overlap the district units in the database, when there are any);
``IMAGERY_MAX_UPLOAD_BYTES`` (default 30 GiB).
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("imagery", __name__, template_folder="templates", static_folder="static",
               static_url_path="/imagery/static")

from webmap.imagery import pages, tiles, tus  # noqa: E402,F401  (routes register on bp)
