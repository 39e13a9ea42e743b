"""Import admin units, parcels, violations, permits or complaints from a file.

The whole file is validated first (pure: rows in, records out), then references (streets,
parcels, items) are resolved against the database and everything is written in the
caller's transaction. The first bad row raises :class:`~geo.errors.ImportFileError`
naming the file, the row (1-based feature number; in a CSV, the data row under the header)
and the field; the caller rolls back, so nothing of the file is imported.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from geoalchemy2.shape import from_shape
from pyproj import Transformer
from shapely.geometry import MultiPoint, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from geo import items, workflow
from geo.crs import METRIC_EPSG, STORAGE_EPSG
from geo.errors import GeoError, ImportFileError
from geo.io.bulk import copy_rows, ewkb
from geo.io.reader import FeatureTable, read_features
from geo.io.schema import KINDS, CellError, column_map
from geo.models import AdminUnit, Complaint, Parcel, Permit, Status, UnitLevel, Violation

#: Called with (rows just written, rows in the file).
Progress = Callable[[int, int], None]
_KEY = {"admin-units": "code", "parcels": "code", "violations": "code", "permits": "permit_no",
        "complaints": "ticket_no"}
_TO_METRIC = Transformer.from_crs(STORAGE_EPSG, METRIC_EPSG, always_xy=True)


@dataclass(frozen=True)
class Record:
    """A validated row: its 1-based number, parsed values and EPSG:4326 geometry."""

    row: int
    values: dict[str, Any]
    geom: BaseGeometry


@dataclass(frozen=True)
class ImportReport:
    kind: str
    path: str
    rows: int
    seconds: float
    source_crs: str


def import_file(session: Session, kind: str, path: str | Path, crs: str | None = None,
                progress: Progress | None = None, encoding: str | None = None) -> ImportReport:
    """Read, validate and insert every row of ``path`` as ``kind``, in the session's transaction.

    Args:
        kind: ``admin-units`` | ``parcels`` | ``violations`` | ``permits`` | ``complaints``.
        path: GeoPackage, Shapefile (or zipped), GeoJSON, CSV or XLSX with WKT.
        crs: CRS of the file's coordinates when it has none (or to override it).
        progress: called with (rows just written, rows in the file).
        encoding: text encoding of a Shapefile or CSV without a declared one (e.g. ``GBK``).

    Raises:
        ImportFileError: naming the file, row, field and reason; the caller must roll back.
    """
    if kind not in KINDS:
        raise ImportFileError(str(path), f"unknown kind '{kind}': use {', '.join(KINDS)}")
    t0 = time.perf_counter()
    table = read_features(path, crs, encoding)
    records = validate(kind, table)
    total = len(records)

    def tick(n: int) -> None:
        if progress is not None:
            progress(n, total)

    tick(0)
    writer = _WRITERS[kind]
    try:
        writer(session, table.path, records, tick)
        session.flush()
    except DBAPIError as exc:
        raise ImportFileError(table.path, f"the database refused the data: {exc.orig}") from exc
    return ImportReport(kind, table.path, len(records), time.perf_counter() - t0, table.source_crs)


def validate(kind: str, table: FeatureTable) -> list[Record]:
    """Parse and check every row (no database access).

    Raises:
        ImportFileError: the first problem: missing column, empty required cell, bad value,
            bad or missing geometry, or a key repeated in the file.
    """
    geom_kind, fields = KINDS[kind]
    cols = column_map(kind, table.columns)
    for f in fields:
        if f.required and f.name not in cols:
            raise ImportFileError(table.path, "required column is missing", field=f.name)
    key = _KEY[kind]
    seen: dict[str, int] = {}
    out: list[Record] = []
    for i, (row, geom, problem) in enumerate(zip(table.rows, table.geoms, table.problems, strict=True), 1):
        values: dict[str, Any] = {}
        for f in fields:
            try:
                values[f.name] = f.parse(row.get(cols[f.name]) if f.name in cols else None)
            except CellError as exc:
                raise ImportFileError(table.path, str(exc), row=i, field=f.name) from exc
        if problem or geom is None:
            raise ImportFileError(table.path, problem or "missing geometry", row=i, field="geometry")
        g = _check_geometry(geom, geom_kind)
        if isinstance(g, str):
            raise ImportFileError(table.path, g, row=i, field="geometry")
        k = str(values[key])
        if k in seen:
            raise ImportFileError(table.path, f"'{k}' repeats row {seen[k]}", row=i, field=key)
        seen[k] = i
        out.append(Record(i, values, g))
    if not out:
        raise ImportFileError(table.path, "the file holds no rows")
    return out


def _check_geometry(geom: BaseGeometry, kind: str) -> BaseGeometry | str:
    """The geometry in the stored type, or the reason it is refused."""
    if kind == "point":
        if isinstance(geom, MultiPoint) and len(geom.geoms) == 1:
            geom = geom.geoms[0]
        if not isinstance(geom, Point):
            return f"expected a point, got {geom.geom_type}"
        return geom
    if isinstance(geom, Polygon):
        geom = MultiPolygon([geom])
    if not isinstance(geom, MultiPolygon):
        return f"expected a polygon, got {geom.geom_type}"
    if not shapely.is_valid(geom):
        return f"invalid polygon: {shapely.is_valid_reason(geom)}"
    return geom


def _areas(geoms: list[BaseGeometry]) -> np.ndarray:
    arr = np.array(geoms, dtype=object)
    return shapely.area(shapely.transform(arr, _TO_METRIC.transform, interleaved=False))  # type: ignore[no-any-return, arg-type]


# ----------------------------------------------------------------------------- references


class _Refs:
    """Lookups of referenced rows, loaded in bulk."""

    def __init__(self, session: Session, path: str) -> None:
        self.session = session
        self.path = path
        self._streets: dict[str, int] | None = None

    def streets(self) -> dict[str, int]:
        if self._streets is None:
            rows = self.session.execute(
                select(AdminUnit.id, AdminUnit.code, AdminUnit.name).where(AdminUnit.level == UnitLevel.STREET.value)
            ).all()
            self._streets = {r.code: r.id for r in rows} | {r.name: r.id for r in rows}
        return self._streets

    def street(self, rec: Record, name: str = "street") -> int | None:
        value = rec.values.get(name)
        if value is None:
            return None
        sid = self.streets().get(value)
        if sid is None:
            raise ImportFileError(self.path, f"unknown street '{value}'", row=rec.row, field=name)
        return sid

    def codes(self, column: Any, values: set[str]) -> dict[str, int]:
        """code → id of the rows whose ``column`` is in ``values``."""
        if not values:
            return {}
        model = column.class_
        out: dict[str, int] = {}
        vals = sorted(values)
        for k in range(0, len(vals), 5000):
            chunk = vals[k:k + 5000]
            out.update({c: i for c, i in self.session.execute(select(column, model.id).where(column.in_(chunk)))})
        return out

    def lookup(self, recs: list[Record], field: str, column: Any, what: str) -> dict[str, int]:
        """Resolve ``field`` of every record, or fail at the first unknown one."""
        wanted = {r.values[field] for r in recs if r.values.get(field) is not None}
        found = self.codes(column, wanted)
        for r in recs:
            v = r.values.get(field)
            if v is not None and v not in found:
                raise ImportFileError(self.path, f"unknown {what} '{v}'", row=r.row, field=field)
        return found

    def refuse_existing(self, recs: list[Record], field: str, column: Any) -> None:
        existing = self.codes(column, {str(r.values[field]) for r in recs})
        for r in recs:
            if r.values[field] in existing:
                raise ImportFileError(self.path, f"'{r.values[field]}' already exists in the database", row=r.row,
                                      field=field)


# ----------------------------------------------------------------------------- writers


def _write_units(session: Session, path: str, recs: list[Record], tick: Callable[[int], None]) -> None:
    refs = _Refs(session, path)
    refs.refuse_existing(recs, "code", AdminUnit.code)
    rows = session.execute(select(AdminUnit.id, AdminUnit.code, AdminUnit.name, AdminUnit.level)).all()
    known: dict[str, tuple[int, str]] = {r.code: (r.id, r.level) for r in rows}
    known |= {r.name: (r.id, r.level) for r in rows if r.name not in known}
    order = {UnitLevel.DISTRICT.value: 0, UnitLevel.STREET.value: 1, UnitLevel.COMMUNITY.value: 2}
    by_ref = {r.values["code"]: r for r in recs} | {r.values["name"]: r for r in recs}
    for rec in sorted(recs, key=lambda r: (order[r.values["level"]], r.row)):
        v = rec.values
        parent_id = None
        if v["parent"] is not None:
            parent = known.get(v["parent"])
            if parent is None:
                why = "is listed at a lower level" if v["parent"] in by_ref else "is unknown"
                raise ImportFileError(path, f"parent unit '{v['parent']}' {why}", row=rec.row, field="parent")
            if order[parent[1]] >= order[v["level"]]:
                raise ImportFileError(path, f"parent '{v['parent']}' is a {parent[1]}, not above a {v['level']}",
                                      row=rec.row, field="parent")
            parent_id = parent[0]
        unit = AdminUnit(code=v["code"], name=v["name"], name_en=v["name_en"], level=v["level"], parent_id=parent_id,
                         geom=from_shape(rec.geom, srid=STORAGE_EPSG))
        session.add(unit)
        session.flush()
        known[v["code"]] = (unit.id, v["level"])
        known.setdefault(v["name"], (unit.id, v["level"]))
        tick(1)


def _write_parcels(session: Session, path: str, recs: list[Record], tick: Callable[[int], None]) -> None:
    refs = _Refs(session, path)
    refs.refuse_existing(recs, "code", Parcel.code)
    streets = [refs.street(r) for r in recs]
    comm_rows = session.execute(
        select(AdminUnit.id, AdminUnit.code, AdminUnit.name).where(AdminUnit.level == UnitLevel.COMMUNITY.value)
    ).all()
    communities = {r.code: r.id for r in comm_rows}
    names: dict[str, list[int]] = {}
    for r in comm_rows:
        names.setdefault(r.name, []).append(r.id)
    comm_ids: list[int | None] = []
    for rec in recs:
        c = rec.values["community"]
        if c is None:
            comm_ids.append(None)
        elif c in communities:
            comm_ids.append(communities[c])
        elif len(names.get(c, [])) == 1:
            comm_ids.append(names[c][0])
        else:
            why = "ambiguous community name (use its code)" if c in names else "unknown community"
            raise ImportFileError(path, f"{why} '{c}'", row=rec.row, field="community")
    areas = _areas([r.geom for r in recs])
    chunk = 2000
    for k in range(0, len(recs), chunk):
        part = range(k, min(k + chunk, len(recs)))
        copy_rows(session, "parcels", ("code", "address", "land_use", "street_id", "community_id", "area_m2", "geom"), (
            (recs[i].values["code"], recs[i].values["address"], recs[i].values["land_use"], streets[i], comm_ids[i],
             round(float(areas[i]), 2), ewkb(recs[i].geom)) for i in part))
        tick(len(part))


def _write_permits(session: Session, path: str, recs: list[Record], tick: Callable[[int], None]) -> None:
    refs = _Refs(session, path)
    refs.refuse_existing(recs, "permit_no", Permit.permit_no)
    parcels = refs.lookup(recs, "parcel", Parcel.code, "parcel")
    rows = [(r.values["permit_no"], r.values["holder"], r.values["issued_at"], parcels.get(r.values["parcel"] or ""),
             refs.street(r), ewkb(r.geom)) for r in recs]
    copy_rows(session, "permits", ("permit_no", "holder", "issued_at", "parcel_id", "street_id", "geom"), rows)
    tick(len(rows))


def _write_complaints(session: Session, path: str, recs: list[Record], tick: Callable[[int], None]) -> None:
    refs = _Refs(session, path)
    refs.refuse_existing(recs, "ticket_no", Complaint.ticket_no)
    viol = refs.lookup(recs, "violation", Violation.code, "violation")
    rows = []
    for r in recs:
        v = r.values
        rows.append((v["ticket_no"], v["received_at"], v["about"], v["description"], v["address"], refs.street(r),
                     viol.get(v["violation"] or ""), True if v["is_key"] is None else v["is_key"],
                     v["verdict"] or "pending", v["verified_at"], v["explained_at"], v["resolved_at"], ewkb(r.geom)))
    copy_rows(session, "complaints", (
        "ticket_no", "received_at", "about", "description", "address", "street_id", "violation_id", "is_key",
        "verdict", "verified_at", "explained_at", "resolved_at", "geom"), rows)
    tick(len(rows))


def _write_violations(session: Session, path: str, recs: list[Record], tick: Callable[[int], None]) -> None:
    """Each item through :func:`geo.items.create_violation` (its first event), then the rest
    of the shortest workflow chain to its status, checked by :func:`geo.workflow.check` and
    appended in bulk: one COPY of the events and one UPDATE of the items' statuses. The
    database's triggers check every event chains from the previous one and, at commit, that
    each item's status equals its last event's."""
    refs = _Refs(session, path)
    refs.refuse_existing(recs, "code", Violation.code)
    parcels = refs.lookup(recs, "parcel", Parcel.code, "parcel")
    actor = f"导入 import: {Path(path).name}"
    later: list[tuple[Any, ...]] = []  # events after the first: (item id, from, to, when, actor, reason, evidence)
    finals: dict[int, tuple[str, datetime, int]] = {}  # item id → (status, status_at, version)
    for rec in recs:
        v = rec.values
        in_db = v["in_database"] if v["in_database"] is not None else v["kind"] == "stock"
        target = Status(v["status"] or (Status.CONFIRMED if in_db else Status.SUSPECTED).value)
        start = Status.SUSPECTED if target in (Status.SUSPECTED, Status.DISMISSED) else Status.CONFIRMED
        try:
            chain = workflow.status_path(target, start)
        except GeoError as exc:
            raise ImportFileError(path, str(exc), row=rec.row, field="status") from exc
        first: datetime = v["discovered_at"]
        last: datetime = v["status_at"] or first
        if last < first:
            raise ImportFileError(path, "status_at is before discovered_at", row=rec.row, field="status_at")
        reason = f"imported from {Path(path).name}, row {rec.row}"
        try:
            item = items.create_violation(
                session, code=v["code"], geom=rec.geom, kind=v["kind"], vtype=v["vtype"],
                source=v["source"] or ("database" if in_db else "patrol"), discovered_at=first, actor=actor,
                status=chain[0], in_database=in_db, is_key=bool(v["is_key"]), street_id=refs.street(rec),
                parcel_id=parcels.get(v["parcel"] or ""), address=v["address"], area=v["area_m2"], reason=reason,
            )
            if v["note"]:
                item.note = v["note"]
                session.flush()
            steps = len(chain) - 1
            for k in range(1, len(chain)):
                workflow.check(chain[k - 1], chain[k])
                when = first + (last - first) * k / steps
                later.append((item.id, chain[k - 1].value, chain[k].value, when, actor, reason, []))
            if steps:
                finals[item.id] = (chain[-1].value, last, item.version + steps)
        except GeoError as exc:
            raise ImportFileError(path, str(exc), row=rec.row) from exc
        tick(1)
    if not later:
        return
    copy_rows(session, "violation_events",
              ("violation_id", "from_status", "to_status", "occurred_at", "actor_name", "reason", "evidence"), later)
    ids = list(finals)
    session.execute(text("""
        UPDATE violations v SET status = u.status, status_at = u.at, version = u.version
        FROM unnest(CAST(:ids AS bigint[]), CAST(:status AS text[]), CAST(:at AS timestamptz[]),
                    CAST(:version AS integer[])) AS u(id, status, at, version)
        WHERE v.id = u.id"""), {
        "ids": ids, "status": [finals[i][0] for i in ids], "at": [finals[i][1] for i in ids],
        "version": [finals[i][2] for i in ids],
    })
    session.expire_all()


_WRITERS: dict[str, Callable[[Session, str, list[Record], Callable[[int], None]], None]] = {
    "admin-units": _write_units,
    "parcels": _write_parcels,
    "violations": _write_violations,
    "permits": _write_permits,
    "complaints": _write_complaints,
}
