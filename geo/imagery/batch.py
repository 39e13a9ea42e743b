"""Ingesting many files: the command line's list of files and its watch-folder mode."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from geo.config import Settings
from geo.errors import GeoError
from geo.imagery.ingest import IngestResult, Progress, SortieInput, district_geometry, ingest_file
from geo.imagery.validate import ALLOWED_SUFFIXES, Limits


@dataclass(frozen=True)
class Outcome:
    """What happened to one file: a result or the error that refused it."""

    path: Path
    result: IngestResult | None = None
    error: GeoError | None = None

    @property
    def line(self) -> str:
        """One line for the terminal."""
        if self.result:
            r = self.result
            return f"✔ {self.path.name}: 已入库 / stored as scene #{r.scene_id} (job {r.job_id or '-'})"
        return f"✘ {self.error}"


def default_limits(engine: Engine, check_district: bool = True) -> Limits:
    """Limits with the district loaded from the database (no check when it holds none)."""
    if not check_district:
        return Limits()
    from geo.db import session_factory

    with session_factory(engine)() as s:
        district = district_geometry(s)
    return replace(Limits(), district=district)


def ingest_paths(engine: Engine, settings: Settings, paths: Iterable[Path], *, sensor: str,
                 captured_at: datetime | None, sortie: SortieInput | None, limits: Limits,
                 uploader_id: int | None = None,
                 progress_for: Callable[[Path], Progress] | None = None) -> list[Outcome]:
    """Ingest files one after the other; a refused file does not stop the others."""
    outcomes = []
    for path in paths:
        progress = progress_for(path) if progress_for else None
        try:
            res = ingest_file(engine, settings, path, sensor=sensor, captured_at=captured_at, sortie=sortie,
                              uploader_id=uploader_id, limits=limits, progress=progress)
            outcomes.append(Outcome(path, result=res))
        except GeoError as exc:
            outcomes.append(Outcome(path, error=exc))
    return outcomes


def _stable_files(folder: Path, sizes: dict[Path, int]) -> list[Path]:
    """Image files whose size did not change since the previous poll (delivery finished)."""
    ready = []
    for p in sorted(folder.iterdir()):
        if not p.is_file() or p.suffix.lower() not in ALLOWED_SUFFIXES:
            continue
        size = p.stat().st_size
        if sizes.get(p) == size:
            ready.append(p)
        sizes[p] = size
    return ready


def watch(engine: Engine, settings: Settings, folder: Path, *, sensor: str, captured_at: datetime | None,
          sortie: SortieInput | None, limits: Limits, on_outcome: Callable[[Outcome], None],
          interval: float = 5.0, max_polls: int | None = None,
          progress_for: Callable[[Path], Progress] | None = None) -> None:
    """Ingest files as they land in ``folder``; move each to ``done/`` or ``refused/``.

    A refused file gets a ``<name>.error.txt`` beside it giving the reason. A file is taken
    once its size is the same at two polls in a row.
    """
    done, refused = folder / "done", folder / "refused"
    done.mkdir(exist_ok=True)
    refused.mkdir(exist_ok=True)
    sizes: dict[Path, int] = {}
    polls = 0
    while max_polls is None or polls < max_polls:
        polls += 1
        for path in _stable_files(folder, sizes):
            (outcome,) = ingest_paths(engine, settings, [path], sensor=sensor, captured_at=captured_at,
                                      sortie=sortie, limits=limits, progress_for=progress_for)
            target = done if outcome.result else refused
            shutil.move(str(path), target / path.name)
            if outcome.error:
                (refused / f"{path.name}.error.txt").write_text(str(outcome.error) + "\n", encoding="utf-8")
            sizes.pop(path, None)
            on_outcome(outcome)
        if max_polls is None or polls < max_polls:
            time.sleep(interval)
