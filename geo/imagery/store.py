"""The content-addressed imagery store: COGs under ``DATA_DIR/scenes/ab/abcdef….tif``.

Crash safety. A scene is stored in this order:

1. the COG is written to ``DATA_DIR/scenes/tmp/<random>.part.tif`` and fsynced;
2. in ONE database transaction, holding a transaction lock on the checksum: the duplicate
   check, the rename of the temporary file to its final content-addressed name (atomic on
   one file system), the scene row, its sortie, its detection-job row and the queued job;
   then the commit.

A committed row therefore always has its file. A crash before the commit can leave a
temporary file, or a final file that no row names; :func:`cleanup_orphans` removes both at
the next start. While a store is in progress its process holds a shared PostgreSQL advisory
lock; the clean-up takes the same lock exclusively and does nothing when it cannot (another
ingest is live), so it never deletes a file that is about to be committed. A crashed
process's locks vanish with its connection.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from geo.imagery.errors import DuplicateScene, StoreError
from geo.imagery.validate import GDAL_ENV, SceneInfo

#: Key of the advisory lock shared by live stores and taken exclusively by the clean-up.
STORE_LOCK_KEY = 0x5CE7E5
SCENES = "scenes"
TMP = "tmp"

Stage = Callable[[str], None]


def _no_stage(_stage: str) -> None:
    return None


def scene_relpath(sha256: str) -> str:
    """The store path (relative to the data folder) of the file with this checksum."""
    return f"{SCENES}/{sha256[:2]}/{sha256}.tif"


def tmp_dir(data_dir: Path) -> Path:
    """The folder of temporary files being written."""
    return data_dir / SCENES / TMP


def sha256_file(path: Path, progress: Callable[[int], None] | None = None, chunk: int = 1 << 20) -> str:
    """The hex sha256 of a file, read in 1 MiB chunks.

    Args:
        path: the file.
        progress: called with the number of bytes just read.
    """
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
            if progress:
                progress(len(block))
    return h.hexdigest()


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    with suppress(OSError):
        _fsync_file(path)


def convert_to_cog(src: Path, dst: Path, info: SceneInfo, profile: str = "deflate") -> None:
    """Write ``src`` as a Cloud-Optimized GeoTIFF with overviews to ``dst``.

    The intermediate file goes next to ``dst`` (compressed), never into memory, and GDAL's
    block cache is capped, so memory stays bounded whatever the input size.

    Raises:
        StoreError: GDAL failed.
    """
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles

    dst_profile = dict(cog_profiles.get(profile))
    dst_profile.update(blockxsize=256, blockysize=256)  # a 256 px map tile touches at most 4 blocks
    if profile == "deflate":
        dst_profile["predictor"] = 2
    config = {**GDAL_ENV, "GDAL_CACHEMAX": 128, "GDAL_TIFF_INTERNAL_MASK": True, "GDAL_NUM_THREADS": "ALL_CPUS"}
    try:
        cog_translate(str(src), str(dst), dst_profile, nodata=info.nodata, in_memory=False,
                      overview_resampling="average", allow_intermediate_compression=True,
                      config=config, quiet=True)
    except Exception as exc:
        raise StoreError(f"{info.filename}: COG conversion failed: {exc}") from exc


@contextmanager
def store_guard(engine: Engine) -> Iterator[Connection]:
    """Hold the shared store lock for the duration of a store (see the module doc)."""
    conn = engine.connect()
    try:
        conn.execute(text("SELECT pg_advisory_lock_shared(:k)"), {"k": STORE_LOCK_KEY})
        conn.commit()
        yield conn
    finally:
        with suppress(Exception):
            conn.execute(text("SELECT pg_advisory_unlock_shared(:k)"), {"k": STORE_LOCK_KEY})
            conn.commit()
        conn.close()


@dataclass(frozen=True)
class Stored:
    """The outcome of :func:`store_scene`."""

    scene_id: int
    relpath: str


def existing_scene(session: Session, sha256: str) -> tuple[int, str] | None:
    """The (id, original name) of the scene with this checksum, if any."""
    from geo.models import Scene

    row = session.execute(select(Scene.id, Scene.original_name).where(Scene.sha256 == sha256)).first()
    return (row[0], row[1]) if row else None


def store_scene(engine: Engine, data_dir: Path, src: Path, info: SceneInfo, sha256: str,
                record: Callable[[Session, str], int], on_stage: Stage = _no_stage,
                profile: str = "deflate") -> Stored:
    """Convert ``src`` to a COG and commit it with its row(s), crash-safely.

    Args:
        engine: the database.
        data_dir: the data folder.
        src: the validated file.
        info: what validation found.
        sha256: the checksum of ``src`` (the store key).
        record: called inside the transaction with (session, relpath) once the file has its
            final name; adds the scene row and whatever belongs with it, returns the scene id.
        on_stage: called with ``converted``, ``renamed``, ``recorded`` (tests inject crashes).
        profile: rio-cogeo profile.

    Raises:
        DuplicateScene: a scene with this checksum exists (checked under a lock).
        StoreError: the conversion or the file system failed.
    """
    from geo.db import session_factory

    relpath = scene_relpath(sha256)
    final = data_dir / relpath
    tdir = tmp_dir(data_dir)
    tdir.mkdir(parents=True, exist_ok=True)
    tmp = tdir / f"{uuid.uuid4().hex}.part.tif"
    with store_guard(engine):
        try:
            convert_to_cog(src, tmp, info, profile)
            _fsync_file(tmp)
            on_stage("converted")
            session = session_factory(engine)()
            renamed = False
            try:
                with session.begin():
                    session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:s))"), {"s": sha256})
                    found = existing_scene(session, sha256)
                    if found:
                        raise DuplicateScene(info.filename, *found)
                    final.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(tmp, final)
                    renamed = True
                    _fsync_dir(final.parent)
                    on_stage("renamed")
                    scene_id = record(session, relpath)
                    on_stage("recorded")
            except BaseException:
                if renamed:
                    with suppress(OSError):
                        final.unlink()
                raise
            finally:
                session.close()
        except OSError as exc:
            raise StoreError(f"{info.filename}: cannot write the imagery store: {exc}") from exc
        finally:
            with suppress(OSError):
                tmp.unlink()
    return Stored(scene_id=scene_id, relpath=relpath)


def cleanup_orphans(engine: Engine, data_dir: Path) -> list[Path] | None:
    """Remove what a crashed store left: temporary files and files no scene row names.

    Returns:
        The removed paths, or None when another store is live (nothing was touched).
    """
    from geo.models import Scene

    root = data_dir / SCENES
    if not root.is_dir():
        return []
    removed: list[Path] = []
    with engine.connect() as conn:
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": STORE_LOCK_KEY}).scalar()
        conn.commit()
        if not got:
            return None
        try:
            tdir = tmp_dir(data_dir)
            if tdir.is_dir():
                for p in tdir.iterdir():
                    with suppress(OSError):
                        p.unlink()
                        removed.append(p)
            known = set(conn.execute(select(Scene.path)).scalars())
            for sub in root.iterdir():
                if not sub.is_dir() or sub.name == TMP:
                    continue
                for p in sub.glob("*.tif"):
                    if f"{SCENES}/{sub.name}/{p.name}" not in known:
                        with suppress(OSError):
                            p.unlink()
                            removed.append(p)
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": STORE_LOCK_KEY})
            conn.commit()
    return removed


def scene_file(data_dir: Path, relpath: str) -> Path:
    """The absolute path of a stored scene, refusing anything outside the store."""
    p = (data_dir / relpath).resolve()
    if not str(p).startswith(str((data_dir / SCENES).resolve()) + os.sep):
        raise StoreError(f"scene path {relpath!r} is outside the store")
    return p
