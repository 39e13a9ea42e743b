"""Helpers shared by the imagery routes: settings, roles, the ingest runner."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from flask import current_app
from flask_login import current_user

from geo.config import Settings
from geo.errors import PermissionDenied
from geo.imagery.uploads import UploadStore
from geo.imagery.validate import Limits
from webmap import db as webdb

UPLOAD_ROLES = ("drone", "office", "admin")


def settings() -> Settings:
    """Settings of the current app (its data folder)."""
    return Settings(data_dir=Path(current_app.config["DATA_DIR"]))


def upload_store() -> UploadStore:
    """The upload store of the current app."""
    limit = int(current_app.config.get("IMAGERY_MAX_UPLOAD_BYTES") or Limits().max_file_bytes)
    return UploadStore(settings().data_dir, limit)


def require_uploader() -> None:
    """Refuse users whose role may not upload.

    Raises:
        PermissionDenied: not logged in, or not drone/office/admin.
    """
    if not current_user.is_authenticated or current_user.role not in UPLOAD_ROLES:
        raise PermissionDenied("uploading imagery needs the role drone, office or admin")


def is_admin() -> bool:
    """Whether the user may see every upload."""
    return bool(current_user.is_authenticated and current_user.role in ("admin", "office"))


def _executor() -> ThreadPoolExecutor:
    ext = current_app.extensions
    if "imagery_ingest" not in ext:
        ext["imagery_ingest"] = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest")
    pool: ThreadPoolExecutor = ext["imagery_ingest"]
    return pool


def start_processing(upload_id: str) -> Future[Any]:
    """Ingest a complete upload in the background (one at a time per process)."""
    from geo.imagery.batch import default_limits
    from geo.imagery.ingest import ingest_file
    from geo.imagery.uploads import process

    engine, sett, store = webdb.engine(), settings(), upload_store()
    check = bool(current_app.config.get("IMAGERY_CHECK_DISTRICT", True))
    logger = current_app.logger

    def run() -> None:
        limits = default_limits(engine, check_district=check)

        def ingest(path: Path, **kw: Any) -> Any:
            return ingest_file(engine, sett, path, limits=limits, **kw)

        try:
            process(store, upload_id, ingest)
        except Exception:
            logger.exception("ingest of upload %s failed", upload_id)

    if store.claim(upload_id) is None:
        raise RuntimeError(f"upload {upload_id} is not complete or already processing")
    return _executor().submit(run)
