"""Load the synthetic demo district (:mod:`geo.synthetic`) into the database.

The generation is pure; this module is the edge: it reads the sample imagery's
``records.geojson`` when present, checks the database is empty, and writes everything
with COPY in one transaction (ids reserved up front, events in chain order so the
database's event-log triggers accept them).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from geo import synthetic
from geo.config import PROJECT_ROOT
from geo.db import session_factory, transaction
from geo.errors import ConflictError, ImportFileError
from geo.io.bulk import copy_rows, ewkb, reserve_ids
from geo.synthetic import FULL, District, SeedSize

#: Tables that must be empty before seeding (users may exist already).
DOMAIN_TABLES = ("admin_units", "parcels", "violations", "complaints", "permits", "sorties", "annual_targets")
STAGES = ("generate", "admin_units", "parcels", "violations", "violation_events", "complaints", "sorties",
          "permits", "annual_targets", "commit")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class SeedReport:
    """What was loaded and how long it took."""

    counts: dict[str, int]
    seconds: float
    records_file: str | None


def default_records_path() -> Path:
    """``sample_tiles/records.geojson`` of the project."""
    return PROJECT_ROOT / "sample_tiles" / "records.geojson"


def read_records(path: Path | None) -> list[dict[str, Any]]:
    """The features of a records GeoJSON file; an empty list when the file is absent.

    Raises:
        ImportFileError: the file exists but is not a GeoJSON FeatureCollection.
    """
    if path is None or not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        feats = data["features"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ImportFileError(str(path), f"not a GeoJSON FeatureCollection ({exc})") from exc
    return [f for f in feats if (f.get("properties") or {}).get("record") in ("violation", "permit")]


def domain_row_counts(session: Session) -> dict[str, int]:
    """Rows in each domain table."""
    return {t: int(session.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in DOMAIN_TABLES}


def seed_demo(engine: Engine, seed: int = 2025, *, today: date | None = None, size: SeedSize = FULL,
              records_path: Path | None = None, progress: Progress | None = None) -> SeedReport:
    """Generate the demo district and load it in one transaction.

    Args:
        engine: the database (migrated).
        seed: random seed; the same seed and day give the same data.
        today: the day the data runs up to (default: today in Asia/Shanghai).
        size: how many of everything (:data:`geo.synthetic.FULL` by default).
        records_path: the sample imagery's records; default ``sample_tiles/records.geojson``
            (skipped quietly when absent).
        progress: called with each stage's name when it is done.

    Raises:
        ConflictError: the database already holds domain data (nothing is written).
    """
    t0 = time.perf_counter()
    say = progress or (lambda _stage: None)
    path = records_path if records_path is not None else default_records_path()
    records = read_records(path)
    day = today or datetime.now(synthetic.TZ).date()
    with transaction(session_factory(engine)) as session:
        busy = {t: n for t, n in domain_row_counts(session).items() if n}
        if busy:
            raise ConflictError(
                "the database is not empty (" + ", ".join(f"{t}: {n}" for t, n in busy.items()) + "); "
                "seed-demo only loads into an empty database: run `python app.py db downgrade base` "
                "and `python app.py db upgrade` first"
            )
        district = synthetic.generate(seed, day, size, records)
        say("generate")
        counts = load(session, district, say)
    say("commit")
    return SeedReport(counts, time.perf_counter() - t0, str(path) if records else None)


def load(session: Session, d: District, say: Progress | None = None) -> dict[str, int]:
    """Write a generated district with COPY in the session's transaction; return row counts."""
    say = say or (lambda _stage: None)
    unit_ids = dict(zip((u.code for u in d.units), reserve_ids(session, "admin_units", len(d.units)), strict=False))
    copy_rows(session, "admin_units", ("id", "code", "name", "name_en", "level", "parent_id", "geom"), (
        (unit_ids[u.code], u.code, u.name, u.name_en, u.level, unit_ids.get(u.parent_code or ""), ewkb(u.geom))
        for u in d.units))
    say("admin_units")

    parcel_ids = dict(zip((p.code for p in d.parcels), reserve_ids(session, "parcels", len(d.parcels)), strict=False))
    cols = ("id", "code", "address", "land_use", "street_id", "community_id", "area_m2", "geom")
    copy_rows(session, "parcels", cols, (
        (parcel_ids[p.code], p.code, p.address, p.land_use, unit_ids.get(p.street_code),
         unit_ids.get(p.community_code), p.area_m2, ewkb(p.geom)) for p in d.parcels))
    say("parcels")

    codes = [v.code for v in d.violations]
    vids = dict(zip(codes, reserve_ids(session, "violations", len(codes)), strict=True))
    copy_rows(session, "violations", (
        "id", "code", "kind", "in_database", "vtype", "is_key", "area_m2", "address", "street_id", "parcel_id",
        "source", "discovered_at", "status", "status_at", "version", "rebuilt_from_id", "note", "geom"), (
        (vids[v.code], v.code, v.kind, v.in_database, v.vtype, v.is_key, v.area_m2, v.address,
         unit_ids.get(v.street_code or ""), parcel_ids.get(v.parcel_code or ""), v.source, v.discovered_at,
         v.status, v.status_at, len(v.events), vids.get(v.rebuilt_from_code or ""), v.note, ewkb(v.geom))
        for v in d.violations))
    say("violations")

    n_events = sum(len(v.events) for v in d.violations)
    eids = iter(reserve_ids(session, "violation_events", n_events))
    copy_rows(session, "violation_events", (
        "id", "violation_id", "from_status", "to_status", "occurred_at", "recorded_at", "actor_name", "reason",
        "evidence", "area_m2"), (
        (next(eids), vids[v.code], e.from_status, e.to_status, e.at, e.at, e.actor, e.reason, list(e.evidence),
         e.area_m2) for v in d.violations for e in v.events))
    say("violation_events")

    copy_rows(session, "complaints", (
        "ticket_no", "received_at", "about", "description", "address", "street_id", "violation_id", "is_key",
        "verdict", "verified_at", "explained_at", "resolved_at", "geom"), (
        (c.ticket_no, c.received_at, c.about, c.description, c.address, unit_ids.get(c.street_code or ""),
         vids.get(c.violation_code or ""), c.is_key, c.verdict, c.verified_at, c.explained_at, c.resolved_at,
         ewkb(c.geom)) for c in d.complaints))
    say("complaints")

    copy_rows(session, "sorties", ("code", "pilot", "drone", "flown_at", "task", "street_id", "geom"), (
        (s.code, s.pilot, s.drone, s.flown_at, s.task, unit_ids.get(s.street_code), ewkb(s.geom))
        for s in d.sorties))
    say("sorties")

    copy_rows(session, "permits", ("permit_no", "holder", "issued_at", "parcel_id", "street_id", "geom"), (
        (p.permit_no, p.holder, p.issued_at, parcel_ids.get(p.parcel_code or ""), unit_ids.get(p.street_code or ""),
         ewkb(p.geom)) for p in d.permits))
    say("permits")

    copy_rows(session, "annual_targets",
              ("year", "unit_id", "closure_area_m2", "closure_count", "permit_area_m2", "permit_count"), (
        (t.year, unit_ids[t.unit_code], t.closure_area_m2, t.closure_count, t.permit_area_m2, t.permit_count)
        for t in d.targets))
    say("annual_targets")
    return d.counts()
