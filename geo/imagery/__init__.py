"""Imagery: validation, the content-addressed COG store, ingest and the sortie log.

Public entry points:

* :func:`geo.imagery.ingest.ingest_file` — validate, store and queue one file.
* :func:`geo.imagery.validate.validate_file` — the checks alone (no side effects).
* :func:`geo.imagery.store.cleanup_orphans` — remove what a crashed ingest left behind.
* :mod:`geo.imagery.sortie` — sortie log queries.
"""
