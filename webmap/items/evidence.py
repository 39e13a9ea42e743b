"""Evidence files (photos, documents) uploaded with a transition, stored under the data folder.

A file is written under a temporary name and renamed; the stored reference is the path
relative to ``DATA_DIR`` (``evidence/<item id>/<random>-<name>``).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path

from werkzeug.datastructures import FileStorage
from werkzeug.utils import secure_filename

from geo.errors import NotFound, ValidationError

ALLOWED = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".tif", ".tiff", ".pdf", ".doc", ".docx", ".xls", ".xlsx", ".txt"}


def save(data_dir: Path, item_id: int, upload: FileStorage) -> str:
    """Store one uploaded file; return its path relative to ``data_dir``.

    Raises:
        ValidationError: naming the file, when its type is not accepted or it is empty.
    """
    original = upload.filename or ""
    suffix = Path(original).suffix.lower()
    if suffix not in ALLOWED:
        raise ValidationError(f"evidence: file '{original}' has type '{suffix or 'none'}', accepted: "
                              + ", ".join(sorted(ALLOWED)))
    name = secure_filename(original) or f"file{suffix}"
    if not Path(name).suffix:
        name += suffix
    rel = Path("evidence") / str(item_id) / f"{secrets.token_hex(4)}-{name}"
    target = data_dir / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            upload.save(out)
        if os.path.getsize(tmp) == 0:
            raise ValidationError(f"evidence: file '{original}' is empty")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return rel.as_posix()


def discard(data_dir: Path, paths: list[str]) -> None:
    """Remove stored files (when the transition they came with failed)."""
    for rel in paths:
        with contextlib.suppress(FileNotFoundError):
            (data_dir / rel).unlink()


def resolve(data_dir: Path, item_id: int, rel: str) -> Path:
    """The file of an evidence reference of this item, refusing anything outside its folder.

    Raises:
        NotFound: no such file for this item.
    """
    base = (data_dir / "evidence" / str(item_id)).resolve()
    path = (data_dir / rel).resolve()
    if base not in path.parents or not path.is_file():
        raise NotFound(f"evidence '{rel}' does not exist for item {item_id}")
    return path
