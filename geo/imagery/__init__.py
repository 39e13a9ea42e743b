"""Imagery: validation, the content-addressed COG store, ingest, tiles, uploads, sortie log.

Entry points:

* :func:`geo.imagery.ingest.ingest_file` — validate, store, record and queue one file (used
  by ``python app.py ingest`` and the web upload);
* :func:`geo.imagery.validate.validate_file` — the checks alone (no side effects);
* :func:`geo.imagery.store.cleanup_orphans` — remove what a crashed ingest left behind (run
  by ``ingest`` and ``worker`` at start);
* :mod:`geo.imagery.tiles` — XYZ tiles of a scene and the newest-imagery mosaic;
* :mod:`geo.imagery.uploads` — resumable uploads on disk (behind the web's tus endpoint);
* :mod:`geo.imagery.sortie` — sorties per pilot, street and month, and pilot-shifts;
* :mod:`geo.imagery.batch` — many files, and the ``--watch`` folder mode.

Decisions worth knowing:

* District rule: ``Limits.district`` (EPSG:4326) is the area a footprint must overlap; None
  turns the rule off. The CLI and the web load it from the database (district units, else
  the union of the streets; no rule while the database has neither); ``--no-district-check``
  or ``IMAGERY_CHECK_DISTRICT=False`` turn it off. Tests pass their own district, so the real
  aerial pair (North Dakota) is tested both ways.
* Refusals happen before any large allocation: a header claiming 10^6 × 10^6 px is refused
  by our own TIFF header parser before GDAL opens the file; compressed blocks larger than
  64 MiB decoded are refused; pixels are scanned one block at a time.
* Crash safety: temporary COG, then one transaction that renames it into place and records
  the scene, its sortie, its job row and the queued job; orphans are removed at the next
  start under an advisory lock (see :mod:`geo.imagery.store`).
* Empty tiles are a transparent 256 px PNG with status 200, not 204.
* A pilot-shift (飞手人次) is one pilot on one calendar day (Beijing time).
"""
