"""Resumable uploads on disk (the storage behind the web's tus endpoint; no HTTP here).

Each upload is two files under ``DATA_DIR/uploads/``: ``<id>.bin`` (the bytes so far,
appended chunk by chunk, never held in memory) and ``<id>.json`` (its length, metadata,
owner and processing state, rewritten atomically). The offset of an upload is the size of
its ``.bin`` file, so a chunk cut off half-way simply leaves a shorter file and the client
resumes from there. One writer at a time per upload (``flock``).

States: ``receiving`` → ``processing`` → ``stored`` (with ``scene_id``) or ``refused``
(with the error) or ``failed``.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from geo.errors import ConflictError, GeoError, NotFound, PermissionDenied, ValidationError
from geo.imagery.errors import ImageryError
from geo.imagery.validate import SENSORS, check_filename

UPLOADS = "uploads"
CHUNK = 1 << 20
_ID = re.compile(r"^[0-9a-f]{32}$")
META_KEYS = ("filename", "sensor", "captured", "sortie", "pilot", "drone", "task")


@dataclass
class Upload:
    """The state of one upload."""

    id: str
    length: int
    filename: str
    meta: dict[str, str]
    user_id: int | None
    state: str = "receiving"
    offset: int = 0
    scene_id: int | None = None
    error: dict[str, str] | None = None
    created: float = field(default_factory=time.time)

    def public(self) -> dict[str, Any]:
        """JSON for the owner's status requests."""
        d = asdict(self)
        d.pop("user_id")
        return d


def parse_metadata(header: str | None) -> dict[str, str]:
    """Decode a tus ``Upload-Metadata`` header (``key base64value,key2 base64value2``).

    Raises:
        ValidationError: a malformed pair or a value that is not base64-encoded UTF-8.
    """
    out: dict[str, str] = {}
    for pair in (header or "").split(","):
        pair = pair.strip()
        if not pair:
            continue
        key, _, value = pair.partition(" ")
        try:
            out[key] = base64.b64decode(value, validate=True).decode("utf-8") if value else ""
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValidationError(f"Upload-Metadata: the value of '{key}' is not base64 UTF-8") from exc
    return out


def parse_captured(value: str | None, filename: str) -> datetime:
    """The capture time of upload metadata (ISO 8601 with zone).

    Raises:
        ImageryError: missing or unreadable.
    """
    try:
        if not value:
            raise ValueError
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise ImageryError(filename, "no_capture_time", f"拍摄时间 '{value or ''}' 缺失或格式不对",
                           f"the capture time '{value or ''}' is missing or not ISO 8601") from exc


class UploadStore:
    """Uploads under ``data_dir/uploads``."""

    def __init__(self, data_dir: Path, max_bytes: int) -> None:
        self.root = data_dir / UPLOADS
        self.max_bytes = max_bytes

    # -- files
    def _bin(self, upload_id: str) -> Path:
        return self.root / f"{upload_id}.bin"

    def _json(self, upload_id: str) -> Path:
        return self.root / f"{upload_id}.json"

    def data_path(self, upload_id: str) -> Path:
        """Where the bytes of an upload are."""
        return self._bin(upload_id)

    def _save(self, up: Upload) -> None:
        tmp = self.root / f".{up.id}.{uuid.uuid4().hex[:6]}.tmp"
        tmp.write_text(json.dumps(asdict(up), ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, self._json(up.id))

    # -- API
    def create(self, length: int, meta: dict[str, str], user_id: int | None) -> Upload:
        """Start an upload after checking what can be checked before any byte arrives.

        Raises:
            ImageryError: bad file name, size, sensor or capture time.
        """
        name = check_filename(meta.get("filename", ""))
        if length <= 0:
            raise ImageryError(name, "empty", "文件为空（0 字节）", "the file is empty (0 bytes)")
        if length > self.max_bytes:
            raise ImageryError(name, "file_too_large", f"文件大小 {length:,} 字节超过上限 {self.max_bytes:,}",
                               f"the file has {length:,} bytes, over the limit of {self.max_bytes:,}")
        if meta.get("sensor") not in SENSORS:
            raise ImageryError(name, "sensor", "传感器应为 drone 或 satellite", "sensor must be drone or satellite")
        parse_captured(meta.get("captured"), name)
        self.root.mkdir(parents=True, exist_ok=True)
        up = Upload(id=uuid.uuid4().hex, length=length, filename=name,
                    meta={k: meta[k] for k in META_KEYS if meta.get(k)}, user_id=user_id)
        self._bin(up.id).touch()
        self._save(up)
        return up

    def get(self, upload_id: str, user_id: int | None = None, admin: bool = False) -> Upload:
        """An upload, checked to belong to ``user_id`` unless ``admin``.

        Raises:
            NotFound: no such upload.
            PermissionDenied: somebody else's.
        """
        if not _ID.match(upload_id) or not self._json(upload_id).exists():
            raise NotFound(f"no upload {upload_id}")
        up = Upload(**json.loads(self._json(upload_id).read_text(encoding="utf-8")))
        if not admin and user_id is not None and up.user_id != user_id:
            raise PermissionDenied("this upload belongs to another user")
        b = self._bin(upload_id)
        up.offset = b.stat().st_size if b.exists() else up.length
        return up

    def append(self, upload_id: str, offset: int, stream: IO[bytes], user_id: int | None = None,
               admin: bool = False) -> Upload:
        """Append the bytes of ``stream`` at ``offset``, 1 MiB at a time; return the new state.

        A stream that breaks off keeps what arrived (the next request resumes from there).

        Raises:
            ConflictError: ``offset`` is not the current offset, the upload is complete, or
                another request is writing it.
            ValidationError: more bytes than the declared length.
        """
        up = self.get(upload_id, user_id, admin)
        if up.state != "receiving":
            raise ConflictError(f"upload {upload_id} is already complete")
        with self._bin(upload_id).open("ab") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise ConflictError(f"upload {upload_id} is being written by another request") from exc
            current = f.seek(0, os.SEEK_END)
            if offset != current:
                raise ConflictError(f"Upload-Offset {offset} does not match the server's offset {current}")
            try:
                while block := stream.read(CHUNK):
                    if current + len(block) > up.length:
                        raise ValidationError(f"more bytes than Upload-Length {up.length}")
                    f.write(block)
                    current += len(block)
            finally:
                f.flush()
                os.fsync(f.fileno())
        up.offset = current
        return up

    def set_state(self, up: Upload, state: str, scene_id: int | None = None,
                  error: dict[str, str] | None = None) -> Upload:
        """Record a new processing state."""
        up.state, up.scene_id, up.error = state, scene_id, error
        self._save(up)
        return up

    def claim(self, upload_id: str) -> Upload | None:
        """Mark a complete upload ``processing``; None if it is not complete or already claimed."""
        up = self.get(upload_id, admin=True)
        lock = self.root / f"{upload_id}.lock"
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return None
        os.close(fd)
        if up.state != "receiving" or up.offset != up.length:
            lock.unlink()
            return None
        return self.set_state(up, "processing")

    def discard_data(self, upload_id: str) -> None:
        """Remove the bytes of a processed upload (its state file stays)."""
        for p in (self._bin(upload_id), self.root / f"{upload_id}.lock"):
            p.unlink(missing_ok=True)


def process(store: UploadStore, upload_id: str, ingest: Callable[..., Any]) -> Upload:
    """Ingest a complete upload with ``ingest(path, name=..., sensor=..., captured_at=..., sortie=...,
    uploader_id=...)`` and record the outcome; the bytes are removed afterwards."""
    from geo.imagery.ingest import SortieInput

    up = store.get(upload_id, admin=True)
    m = up.meta
    try:
        captured = parse_captured(m.get("captured"), up.filename)
        sortie = SortieInput(code=m.get("sortie"), pilot=m.get("pilot"), drone=m.get("drone"), task=m.get("task"),
                             flown_at=captured)
        res = ingest(store.data_path(upload_id), name=up.filename, sensor=m.get("sensor", ""), captured_at=captured,
                     sortie=sortie, uploader_id=up.user_id)
        store.set_state(up, "stored", scene_id=res.scene_id)
    except ImageryError as exc:
        store.set_state(up, "refused", error=exc.as_dict())
    except GeoError as exc:
        store.set_state(up, "failed", error={"file": up.filename, "message": str(exc)})
    except Exception as exc:
        store.set_state(up, "failed", error={"file": up.filename, "message": f"internal error: {exc}"})
        raise
    finally:
        store.discard_data(upload_id)
    return up
