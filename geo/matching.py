"""Matching change polygons against the violation database, permits, parcels and streets.

The rules (:func:`classify`) are a pure function over plain rows; the database is asked
once per batch (:func:`overlaps_for`), with the batch sent as arrays and unnested in SQL.

Classes, for a change polygon D:

* appeared, and an open recorded violation V (not closed or dismissed) covers D or D covers V,
  or D touches V (within ``near_m``: the structure grew) → ``known_changed``; the area before
  is V's recorded area, the area after that of D ∪ V (stored in ``detections.area_after_m2``);
* appeared, inside a permit footprint → ``permitted`` (kept, not queued for review);
* appeared otherwise → ``new_suspect`` (a closed item's spot counts: a rebuild is a new item);
* disappeared where a recorded violation lies (any status but dismissed: items in
  ``case_filed``, ``demolished`` or already ``closed`` get look-back evidence too) →
  ``demolition_evidence``;
* disappeared otherwise → ``unmatched`` (not queued).

A recorded violation wins over a permit: an open item must reach a reviewer.
Street and parcel are those with the largest overlap.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from detection.types import LOOK_BACK_MARGIN_M
from geo import crs as gcrs
from geo.errors import ValidationError
from geo.models import DetectionChange, DetectionClass, ReviewStatus, Status

#: Violation statuses that still expect work: a new or grown structure there is the item itself.
CLOSED_STATUSES = frozenset({Status.CLOSED.value, Status.DISMISSED.value})


@dataclass(frozen=True)
class Rules:
    """Thresholds of the matching.

    Attributes:
        min_share: a record "covers" a change when their intersection is at least this share
            of the smaller of the two areas.
        permit_share: a change is inside a permit when at least this share of it is.
        near_m: an appeared change within this distance (metres) of an open violation is
            that violation growing.
    """

    min_share: float = 0.3
    permit_share: float = 0.5
    near_m: float = 2.0


@dataclass(frozen=True)
class Overlap:
    """One record near one change polygon (a row of the batch query).

    Attributes:
        kind: ``violation``, ``permit``, ``parcel`` or ``street``.
        ref_id: the record's id.
        overlap_m2: area of the intersection, m².
        ref_area_m2: area of the record's geometry, m².
        distance_m: distance between the two, m (0 when they intersect).
        status: a violation's status.
        recorded_area_m2: a violation's recorded area (``violations.area_m2``).
        union_m2: area of change ∪ record, m² (violations only).
        street_id: the record's street, when it has one.
        parcel_id: the record's parcel, when it has one.
    """

    kind: str
    ref_id: int
    overlap_m2: float
    ref_area_m2: float = 0.0
    distance_m: float = 0.0
    status: str | None = None
    recorded_area_m2: float | None = None
    union_m2: float | None = None
    street_id: int | None = None
    parcel_id: int | None = None


@dataclass(frozen=True)
class Classification:
    """The outcome of matching one change polygon.

    ``area_before_m2`` / ``area_after_m2``: for ``known_changed`` the item's recorded area and
    that of item ∪ change; for ``demolition_evidence`` the recorded area and what is left of it;
    for ``new_suspect`` 0 and the change's area; None for the classes outside the queue.
    """

    klass: str
    review_status: str
    violation_id: int | None = None
    permit_id: int | None = None
    parcel_id: int | None = None
    street_id: int | None = None
    area_before_m2: float | None = None
    area_after_m2: float | None = None


@dataclass(frozen=True)
class Change:
    """A change polygon ready to match: geometry in EPSG:4326 and its metric area."""

    change: str
    geom: MultiPolygon
    area_m2: float
    score: float

    @property
    def fingerprint(self) -> str:
        """Stable identity of the change (see :func:`fingerprint`)."""
        return fingerprint(self.change, self.geom)


@dataclass(frozen=True)
class Matched:
    """A change with its classification."""

    change: Change
    result: Classification = field(repr=False)


def _covers(o: Overlap, area_m2: float, share: float) -> bool:
    smaller = min(area_m2, o.ref_area_m2) if o.ref_area_m2 > 0 else area_m2
    return smaller > 0 and o.overlap_m2 >= share * smaller


def _largest(overlaps: Iterable[Overlap]) -> Overlap | None:
    best = None
    for o in overlaps:
        if o.overlap_m2 > 0 and (best is None or (o.overlap_m2, -o.ref_id) > (best.overlap_m2, -best.ref_id)):
            best = o
    return best


def _best_violation(found: list[Overlap]) -> Overlap | None:
    """The violation with the largest overlap, or the nearest when none overlaps."""
    if not found:
        return None
    return min(found, key=lambda o: (-o.overlap_m2, o.distance_m, o.ref_id))


def classify(change: str, area_m2: float, overlaps: Sequence[Overlap], rules: Rules = Rules()) -> Classification:
    """Classify one change polygon from the records around it (pure).

    Args:
        change: ``appeared`` or ``disappeared``.
        area_m2: the change polygon's area, m².
        overlaps: the records the batch query found near it.
        rules: thresholds.

    Raises:
        ValidationError: unknown change kind.
    """
    try:
        kind = DetectionChange(change)
    except ValueError as exc:
        raise ValidationError(f"change must be 'appeared' or 'disappeared', got {change!r}") from exc
    by_kind: dict[str, list[Overlap]] = defaultdict(list)
    for o in overlaps:
        by_kind[o.kind].append(o)
    street = _largest(by_kind["street"])
    parcel = _largest(by_kind["parcel"])
    permits = [o for o in by_kind["permit"] if area_m2 > 0 and o.overlap_m2 >= rules.permit_share * area_m2]
    permit = _largest(permits)
    violations = by_kind["violation"]
    if kind is DetectionChange.APPEARED:
        hits = [o for o in violations if o.status not in CLOSED_STATUSES
                and (_covers(o, area_m2, rules.min_share) or o.distance_m <= rules.near_m)]
    else:
        hits = [o for o in violations if o.status != Status.DISMISSED.value and _covers(o, area_m2, rules.min_share)]
    violation = _best_violation(hits)

    street_id = street.ref_id if street else None
    parcel_id = parcel.ref_id if parcel else None
    if violation is not None:
        street_id = street_id or violation.street_id
        parcel_id = parcel_id or violation.parcel_id
        if kind is DetectionChange.APPEARED:
            klass, before, after = DetectionClass.KNOWN_CHANGED, violation.recorded_area_m2, violation.union_m2
        else:
            klass, before = DetectionClass.DEMOLITION_EVIDENCE, violation.recorded_area_m2
            after = None if before is None else max(0.0, before - violation.overlap_m2)
        return Classification(klass.value, ReviewStatus.PENDING.value, violation_id=violation.ref_id,
                              permit_id=permit.ref_id if permit else None, parcel_id=parcel_id,
                              street_id=street_id, area_before_m2=before, area_after_m2=after)
    if permit is not None:
        street_id = street_id or permit.street_id
        parcel_id = parcel_id or permit.parcel_id
    if kind is DetectionChange.APPEARED and permit is not None:
        return Classification(DetectionClass.PERMITTED.value, ReviewStatus.NOT_QUEUED.value,
                              permit_id=permit.ref_id, parcel_id=parcel_id, street_id=street_id)
    if kind is DetectionChange.APPEARED:
        return Classification(DetectionClass.NEW_SUSPECT.value, ReviewStatus.PENDING.value,
                              parcel_id=parcel_id, street_id=street_id, area_before_m2=0.0, area_after_m2=area_m2)
    return Classification(DetectionClass.UNMATCHED.value, ReviewStatus.NOT_QUEUED.value,
                          permit_id=permit.ref_id if permit else None, parcel_id=parcel_id, street_id=street_id)


def fingerprint(change: str, geom_wgs84: BaseGeometry, decimals: int = 6) -> str:
    """A stable identity of a change polygon: its kind and its geometry rounded to ~0.1 m.

    The geometry is normalised (ring start and orientation) and its coordinates rounded to
    ``decimals`` degrees, so running the same detection again gives the same value.
    """
    norm = shapely.normalize(geom_wgs84)
    coords = shapely.get_coordinates(norm).round(decimals)
    digest = hashlib.sha256()
    digest.update(change.encode())
    digest.update(norm.geom_type.encode())
    digest.update(coords.tobytes())
    return digest.hexdigest()


def as_multipolygon(geom: BaseGeometry) -> MultiPolygon:
    """The polygonal part of ``geom`` as a valid MultiPolygon (possibly empty)."""
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    if isinstance(geom, MultiPolygon):
        return geom
    if isinstance(geom, Polygon):
        return MultiPolygon([geom])
    parts = [g for g in getattr(geom, "geoms", []) if isinstance(g, Polygon | MultiPolygon)]
    polys: list[Polygon] = []
    for p in parts:
        polys.extend(p.geoms if isinstance(p, MultiPolygon) else [p])
    return MultiPolygon(polys)


def to_change(change: str, geometry: BaseGeometry, score: float, src_crs: str | int | None) -> Change | None:
    """Reproject a change polygon to EPSG:4326 and measure it; None when nothing polygonal is left.

    Raises:
        ValidationError: the polygon has no CRS (pixel coordinates cannot be matched).
    """
    if src_crs is None:
        raise ValidationError("a change polygon without a CRS (pixel coordinates) cannot be matched on the map")
    geom = as_multipolygon(gcrs.transform(geometry, src_crs, gcrs.STORAGE_EPSG))
    if geom.is_empty:
        return None
    return Change(change=str(change), geom=geom, area_m2=gcrs.area_m2(geom), score=float(score))


_OVERLAPS_SQL = text(
    f"""
    WITH d AS (
        SELECT t.i, ST_SetSRID(ST_GeomFromWKB(t.w), 4326) AS g
        FROM unnest(CAST(:idx AS integer[]), CAST(:wkb AS bytea[])) AS t(i, w)
    ), n AS (
        SELECT i, g, ST_Transform(g, {gcrs.METRIC_EPSG}) AS gm, ST_Expand(g, :near_deg) AS gx FROM d
    )
    SELECT n.i, 'violation' AS kind, v.id AS ref_id, v.status, v.area_m2 AS recorded_area_m2,
           v.street_id, v.parcel_id,
           ST_Area(r.m) AS ref_area_m2, ST_Area(ST_Intersection(n.gm, r.m)) AS overlap_m2,
           ST_Distance(n.gm, r.m) AS distance_m, ST_Area(ST_Union(n.gm, r.m)) AS union_m2
    FROM n JOIN violations v ON v.geom && n.gx
    CROSS JOIN LATERAL (SELECT ST_MakeValid(ST_Transform(v.geom, {gcrs.METRIC_EPSG})) AS m) r
    WHERE ST_DWithin(n.gm, r.m, :near_m)
    UNION ALL
    SELECT n.i, 'permit', p.id, NULL, NULL, p.street_id, p.parcel_id,
           ST_Area(r.m), ST_Area(ST_Intersection(n.gm, r.m)), 0, NULL
    FROM n JOIN permits p ON ST_Intersects(p.geom, n.g)
    CROSS JOIN LATERAL (SELECT ST_MakeValid(ST_Transform(p.geom, {gcrs.METRIC_EPSG})) AS m) r
    UNION ALL
    SELECT n.i, 'parcel', pa.id, NULL, NULL, pa.street_id, pa.id,
           ST_Area(r.m), ST_Area(ST_Intersection(n.gm, r.m)), 0, NULL
    FROM n JOIN parcels pa ON ST_Intersects(pa.geom, n.g)
    CROSS JOIN LATERAL (SELECT ST_MakeValid(ST_Transform(pa.geom, {gcrs.METRIC_EPSG})) AS m) r
    UNION ALL
    SELECT n.i, 'street', u.id, NULL, NULL, u.id, NULL,
           0, ST_Area(ST_Intersection(n.gm, ST_MakeValid(ST_Transform(u.geom, {gcrs.METRIC_EPSG})))), 0, NULL
    FROM n JOIN admin_units u ON u.level = 'street' AND ST_Intersects(u.geom, n.g)
    """
)


def overlaps_for(session: Session, geoms: Sequence[BaseGeometry], near_m: float = Rules.near_m) -> list[list[Overlap]]:
    """Every violation, permit, parcel and street near each geometry, in ONE query.

    Args:
        session: an open session.
        geoms: change polygons in EPSG:4326.
        near_m: violations within this distance are returned too (growth next to an item).

    Returns:
        For each input geometry, in order, the records around it.
    """
    out: list[list[Overlap]] = [[] for _ in geoms]
    if not geoms:
        return out
    params = {
        "idx": list(range(len(geoms))),
        "wkb": [shapely.to_wkb(g) for g in geoms],
        "near_m": float(near_m),
        # ST_Expand works in degrees: 1 m is below 1/80,000 degree of longitude up to 45° latitude.
        "near_deg": float(near_m) / 80_000.0,
    }
    for r in session.execute(_OVERLAPS_SQL, params):
        out[r.i].append(Overlap(
            kind=r.kind, ref_id=int(r.ref_id), overlap_m2=float(r.overlap_m2 or 0.0),
            ref_area_m2=float(r.ref_area_m2 or 0.0), distance_m=float(r.distance_m or 0.0), status=r.status,
            recorded_area_m2=None if r.recorded_area_m2 is None else float(r.recorded_area_m2),
            union_m2=None if r.union_m2 is None else float(r.union_m2),
            street_id=r.street_id, parcel_id=r.parcel_id,
        ))
    return out


def match(session: Session, changes: Sequence[Change], rules: Rules = Rules(),
          batch_size: int = 1000) -> list[Matched]:
    """Classify change polygons (EPSG:4326) against the database, one query per batch.

    Args:
        session: an open session.
        changes: the changes, geometry in EPSG:4326 with metric area.
        rules: thresholds.
        batch_size: polygons per query.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    out: list[Matched] = []
    for start in range(0, len(changes), batch_size):
        batch = changes[start:start + batch_size]
        found = overlaps_for(session, [c.geom for c in batch], near_m=rules.near_m)
        out.extend(Matched(c, classify(c.change, c.area_m2, f, rules)) for c, f in zip(batch, found, strict=True))
    return out


def look_back_regions(
    session: Session, scene_id: int, crs: str, margin_m: float = LOOK_BACK_MARGIN_M
) -> list[BaseGeometry]:
    """The recorded violations (not dismissed) over a scene's footprint, in the scene's CRS with
    a margin: where detection also looks for structures that vanished (demolition evidence).

    Args:
        session: an open session.
        scene_id: the scene whose footprint is searched.
        crs: the scene's CRS (the polygons are returned in it).
        margin_m: buffer around each record, metres.
    """
    # buffered in the metric CRS, so the margin is metres whatever the scene's CRS
    rows = session.execute(
        text(
            f"SELECT ST_AsBinary(ST_Buffer(ST_Transform(v.geom, {gcrs.METRIC_EPSG}), :margin))"
            " FROM violations v JOIN scenes s ON ST_Intersects(v.geom, s.footprint)"
            " WHERE s.id = :sid AND v.status <> :dismissed ORDER BY v.id"
        ),
        {"sid": scene_id, "dismissed": Status.DISMISSED.value, "margin": margin_m},
    ).scalars()
    return [gcrs.transform(shapely.from_wkb(bytes(w)), gcrs.METRIC_EPSG, crs) for w in rows]
