"""Pairing: which earlier scenes a new scene is compared with.

A new scene is compared with the newest earlier scene(s) whose footprint covers enough of
it. Scenes of the same sensor are preferred (a drone tile is best compared with the previous
drone tile of the spot); another sensor is used only where no same-sensor scene qualifies.
When the newest earlier scene covers only part of the new one (drone tiles of two sorties
rarely line up), further earlier scenes are taken, newest first, each for the part not covered
yet, as long as that part is at least ``min_share`` of the new footprint.
One PostGIS query finds every candidate; the choice among them is a pure function.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import NotFound

#: Smallest share of the new scene's footprint an earlier scene must cover to be paired.
DEFAULT_MIN_SHARE = 0.2

_CANDIDATES_SQL = text(
    """
    WITH s AS (
        SELECT id, sensor, captured_at, footprint, ST_Area(footprint::geography) AS area
        FROM scenes WHERE id = :scene_id
    )
    SELECT o.id, o.sensor, o.captured_at, o.path,
           (o.sensor = s.sensor) AS same_sensor,
           ST_AsBinary(ST_Intersection(o.footprint, s.footprint)) AS overlap_wkb,
           ST_AsBinary(s.footprint) AS new_wkb,
           CASE WHEN s.area > 0
                THEN ST_Area(ST_Intersection(o.footprint, s.footprint)::geography) / s.area
                ELSE 0 END AS share
    FROM s JOIN scenes o
      ON o.id <> s.id AND o.captured_at < s.captured_at AND ST_Intersects(o.footprint, s.footprint)
    ORDER BY o.captured_at DESC, o.id DESC
    """
)


@dataclass(frozen=True)
class Candidate:
    """An earlier scene overlapping the new one.

    Attributes:
        scene_id: the earlier scene.
        sensor: its sensor.
        captured_at: its capture time.
        path: its file, relative to the data folder.
        same_sensor: whether it comes from the new scene's sensor.
        share: share (0..1) of the new scene's footprint it covers.
        overlap: its footprint ∩ the new one (EPSG:4326), None when unknown.
        new_footprint: the new scene's footprint (EPSG:4326), None when unknown.
        adds: the part of ``overlap`` that earlier choices did not cover yet (set by :func:`choose`).
    """

    scene_id: int
    sensor: str
    captured_at: datetime
    path: str
    same_sensor: bool
    share: float
    overlap: BaseGeometry | None = field(default=None, repr=False, compare=False)
    new_footprint: BaseGeometry | None = field(default=None, repr=False, compare=False)
    adds: BaseGeometry | None = field(default=None, repr=False, compare=False)


def choose(candidates: Sequence[Candidate], min_share: float = DEFAULT_MIN_SHARE,
           max_pairs: int = 1) -> list[Candidate]:
    """Pick the earlier scenes to compare with, best first.

    Candidates covering less than ``min_share`` of the new scene are dropped. Same-sensor
    scenes come first when any qualifies, then the others; newest first within each (ties:
    larger share). The first is always taken; each further one only when the part of the new
    footprint it covers and no earlier choice does is at least ``min_share`` of it (so at most
    ``max_pairs`` comparisons, none of them redundant). Each chosen candidate's ``adds`` is that
    part (EPSG:4326) when the geometries are known.

    Args:
        candidates: every earlier overlapping scene.
        min_share: smallest (newly) covered share of the new footprint.
        max_pairs: how many earlier scenes to return at most.
    """
    if max_pairs < 1:
        raise ValueError(f"max_pairs must be at least 1, got {max_pairs}")
    usable = [c for c in candidates if c.share >= min_share]
    usable.sort(key=lambda c: (c.same_sensor, c.captured_at, c.share, c.scene_id), reverse=True)
    if all(c.overlap is None or c.new_footprint is None for c in usable):
        # no geometry to reason with: the best one only
        return [replace(c, adds=c.overlap) for c in usable[:1]]
    chosen: list[Candidate] = []
    covered: BaseGeometry | None = None
    for c in usable:
        if len(chosen) == max_pairs or c.overlap is None or c.new_footprint is None:
            continue
        whole = c.new_footprint.area
        adds = c.overlap if covered is None else c.overlap.difference(covered)
        if whole <= 0 or adds.area < min_share * whole:
            continue
        chosen.append(replace(c, adds=adds))
        covered = adds if covered is None else shapely.union(covered, adds)
    return chosen


def candidates(session: Session, scene_id: int) -> list[Candidate]:
    """Every earlier scene whose footprint intersects the scene's, newest first (one query).

    Raises:
        NotFound: no such scene.
    """
    if session.execute(text("SELECT 1 FROM scenes WHERE id = :i"), {"i": scene_id}).first() is None:
        raise NotFound(f"scene {scene_id} does not exist")
    rows = session.execute(_CANDIDATES_SQL, {"scene_id": scene_id}).all()
    return [
        Candidate(scene_id=r.id, sensor=r.sensor, captured_at=r.captured_at, path=r.path,
                  same_sensor=bool(r.same_sensor), share=float(r.share or 0.0),
                  overlap=shapely.from_wkb(bytes(r.overlap_wkb)) if r.overlap_wkb is not None else None,
                  new_footprint=shapely.from_wkb(bytes(r.new_wkb)) if r.new_wkb is not None else None)
        for r in rows
    ]


def earlier_scenes(session: Session, scene_id: int, min_share: float = DEFAULT_MIN_SHARE,
                   max_pairs: int = 1) -> list[Candidate]:
    """The earlier scene(s) a new scene should be compared with, best first.

    Args:
        session: an open session.
        scene_id: the new scene.
        min_share: smallest share of the new footprint an earlier scene must cover.
        max_pairs: how many earlier scenes at most.

    Raises:
        NotFound: no such scene.
    """
    return choose(candidates(session, scene_id), min_share=min_share, max_pairs=max_pairs)
