"""Import of every format and CRS, and bad files that must leave the database unchanged."""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import geopandas as gpd
import pytest
from click.testing import CliRunner
from shapely.geometry import MultiPolygon, Point, Polygon
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from geo.crs import area_m2
from geo.db import transaction
from geo.errors import ImportFileError
from geo.io.importer import import_file
from geo.models import AdminUnit, Complaint, Parcel, Permit, Violation, ViolationEvent
from tests.builders import add_street, metric_box, unique

#: Where this module's rows lie: far from every other test's geometries.
ORIGIN = (122.10, 31.40)


def box_at(dx: float, dy: float, w: float, h: float) -> Polygon:
    return metric_box(dx, dy, w, h, origin=ORIGIN)  # type: ignore[return-value]


@pytest.fixture
def db(engine: Engine) -> Iterator[sessionmaker[Session]]:
    """A session factory whose commits are savepoints of one transaction rolled back after the test.

    Each ``transaction(db)`` commits or rolls back like a real one (the import's
    all-or-nothing is visible to the next session), and the test leaves nothing behind.
    Deferred constraints do not fire here; tests check the event log themselves.
    """
    conn = engine.connect()
    trans = conn.begin()
    try:
        yield sessionmaker(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
    finally:
        trans.rollback()
        conn.close()


def _street(factory: sessionmaker[Session]) -> AdminUnit:
    with transaction(factory) as s:
        return add_street(s, unique("导入街道"), lon=ORIGIN[0] - 0.01, lat=ORIGIN[1] - 0.01)


@pytest.fixture
def street(db: sessionmaker[Session]) -> AdminUnit:
    """A street with a unique name and code (rolled back after the test)."""
    return _street(db)


def parcels_frame(street: str, n: int = 5, prefix: str | None = None) -> gpd.GeoDataFrame:
    """``n`` parcels of about 30 m × 20 m in EPSG:4326 with the import columns."""
    prefix = prefix or unique("IMP")
    geoms = [box_at(40.0 * i, 0.0, 30.0, 20.0) for i in range(n)]
    return gpd.GeoDataFrame({
        "code": [f"{prefix}-{i}" for i in range(n)],
        "address": [f"长宁区测试路{2 * i + 1}号" for i in range(n)],
        "land_use": ["住宅"] * n,
        "street": [street] * n,
    }, geometry=geoms, crs="EPSG:4326")


def count(db: sessionmaker[Session], model: type, prefix: str) -> int:
    col = getattr(model, "code", None) or getattr(model, "permit_no", None) or model.ticket_no  # type: ignore[attr-defined]
    with db() as s:
        return int(s.scalar(select(func.count()).where(col.like(f"{prefix}%"))) or 0)


def run_import(db: sessionmaker[Session], kind: str, path: Path, crs: str | None = None) -> int:
    with transaction(db) as s:
        return import_file(s, kind, path, crs=crs).rows


def stored_parcels(db: sessionmaker[Session], prefix: str) -> dict[str, tuple[float, object]]:
    from geoalchemy2.shape import to_shape

    with db() as s:
        rows = s.scalars(select(Parcel).where(Parcel.code.like(f"{prefix}%")))
        return {p.code: (p.area_m2, to_shape(p.geom)) for p in rows}


def assert_same_parcels(db: sessionmaker[Session], frame: gpd.GeoDataFrame, prefix: str) -> None:
    got = stored_parcels(db, prefix)
    assert set(got) == set(frame["code"])
    for code, geom in zip(frame["code"], frame.geometry, strict=True):
        area, stored = got[code]
        assert area == pytest.approx(area_m2(geom), abs=0.05)
        assert area == pytest.approx(600.0, rel=0.01)
        want = MultiPolygon([geom]) if isinstance(geom, Polygon) else geom
        assert stored.normalize().equals_exact(want.normalize(), 1e-7)  # rings may be re-oriented


# ----------------------------------------------------------------------------- good files


def test_geopackage_in_cgcs2000_gk(tmp_path: Path, db: sessionmaker[Session], street: AdminUnit) -> None:
    prefix = unique("GPKG")
    frame = parcels_frame(street.name, prefix=prefix)
    path = tmp_path / "parcels.gpkg"
    frame.to_crs(4549).to_file(path, driver="GPKG")
    assert run_import(db, "parcels", path) == 5
    assert_same_parcels(db, frame, prefix)
    with db() as s:
        assert set(s.scalars(select(Parcel.street_id).where(Parcel.code.like(f"{prefix}%")))) == {street.id}


def test_zipped_shapefile_in_utm51n(tmp_path: Path, db: sessionmaker[Session], street: AdminUnit) -> None:
    prefix = unique("SHP")
    frame = parcels_frame(street.code, prefix=prefix)
    shp_dir = tmp_path / "shp"
    shp_dir.mkdir()
    frame.to_crs(32651).to_file(shp_dir / "parcels.shp", driver="ESRI Shapefile", encoding="UTF-8")
    zpath = tmp_path / "parcels.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        for f in shp_dir.iterdir():
            z.write(f, f.name)
    assert run_import(db, "parcels", zpath) == 5
    assert_same_parcels(db, frame, prefix)
    with db() as s:
        addr = s.scalar(select(Parcel.address).where(Parcel.code == f"{prefix}-1"))
    assert addr == "长宁区测试路3号"


def test_gbk_shapefile_without_cpg_needs_encoding(tmp_path: Path, db: sessionmaker[Session],
                                                  street: AdminUnit) -> None:
    prefix = unique("GBK")
    frame = parcels_frame(street.name, n=2, prefix=prefix)
    frame.to_crs(4549).to_file(tmp_path / "p.shp", driver="ESRI Shapefile", encoding="GBK")
    (tmp_path / "p.cpg").unlink(missing_ok=True)
    with transaction(db) as s:
        assert import_file(s, "parcels", tmp_path / "p.shp", encoding="GBK").rows == 2
    with db() as s:
        assert s.scalar(select(Parcel.address).where(Parcel.code == f"{prefix}-1")) == "长宁区测试路3号"
        assert s.scalar(select(Parcel.street_id).where(Parcel.code == f"{prefix}-1")) == street.id


def test_csv_with_wkt_needs_and_uses_crs(tmp_path: Path, db: sessionmaker[Session], street: AdminUnit) -> None:
    prefix = unique("CSV")
    frame = parcels_frame(street.name, prefix=prefix)
    metric = frame.to_crs(4549)
    table = metric.drop(columns="geometry")
    table["wkt"] = metric.geometry.to_wkt()
    path = tmp_path / "parcels.csv"
    table.to_csv(path, index=False)
    with pytest.raises(ImportFileError, match=r"no coordinate reference system.*--crs"):
        run_import(db, "parcels", path)
    assert count(db, Parcel, prefix) == 0
    assert run_import(db, "parcels", path, crs="EPSG:4549") == 5
    assert_same_parcels(db, frame, prefix)


def test_geojson_violations_get_their_event_chain(tmp_path: Path, db: sessionmaker[Session],
                                                  street: AdminUnit) -> None:
    prefix = unique("GJV")
    statuses = ["confirmed", "closed", "dismissed", "annotated", None, None]
    frame = gpd.GeoDataFrame({
        "code": [f"{prefix}-{i}" for i in range(6)],
        "kind": ["stock", "stock", "new", "stock", "stock", "new"],
        "vtype": ["rooftop", "villa", "shed", "courtyard", "factory", "shed"],
        "discovered_at": ["2023-05-04 10:00", "2022-01-10", "2025-06-01T09:30:00+08:00", "2021-03-03", "2020-02-02",
                          "2025-07-07"],
        "status": statuses,
        "status_at": [None, "2025-04-01 15:00", "2025-06-03 11:00", "2025-05-05", None, None],
        "street": [street.name] * 6,
    }, geometry=[box_at(25.0 * i, 100.0, 12.0, 10.0) for i in range(6)], crs="EPSG:4326")
    path = tmp_path / "violations.geojson"
    frame.to_file(path, driver="GeoJSON")
    assert run_import(db, "violations", path) == 6
    with db() as s:
        got = {v.code: v for v in s.scalars(select(Violation).where(Violation.code.like(f"{prefix}%")))}
        chains = {
            code: [(e.from_status, e.to_status) for e in s.scalars(
                select(ViolationEvent).where(ViolationEvent.violation_id == v.id).order_by(ViolationEvent.id))]
            for code, v in got.items()
        }
    assert got[f"{prefix}-0"].status == "confirmed" and chains[f"{prefix}-0"] == [(None, "confirmed")]
    assert chains[f"{prefix}-1"] == [(None, "confirmed"), ("confirmed", "demolished"), ("demolished", "closed")]
    assert chains[f"{prefix}-2"] == [(None, "suspected"), ("suspected", "dismissed")]
    assert got[f"{prefix}-3"].status == "annotated"
    assert got[f"{prefix}-4"].status == "confirmed"  # default for stock in-database items
    assert chains[f"{prefix}-5"] == [(None, "suspected")]  # default for new items
    assert got[f"{prefix}-1"].in_database is True and got[f"{prefix}-2"].in_database is False
    assert got[f"{prefix}-2"].source == "patrol" and got[f"{prefix}-1"].source == "database"
    assert got[f"{prefix}-1"].status_at.isoformat() == "2025-04-01T07:00:00+00:00"
    assert got[f"{prefix}-0"].area_m2 == pytest.approx(120.0, rel=0.01)
    for code, v in got.items():
        assert v.status == chains[code][-1][1]


def test_admin_units_permits_and_complaints(tmp_path: Path, db: sessionmaker[Session]) -> None:
    code = unique("U")
    units = gpd.GeoDataFrame({
        "code": [f"{code}-C", f"{code}-D", f"{code}-S"],
        "name": [f"{code}居民区", f"{code}区", f"{code}街道"],
        "level": ["community", "district", "street"],
        "parent": [f"{code}-S", None, f"{code}区"],
    }, geometry=[box_at(0, 0, 50, 50), box_at(0, 0, 500, 500), box_at(0, 0, 200, 200)], crs="EPSG:4326")
    units.to_file(tmp_path / "units.gpkg", driver="GPKG")
    assert run_import(db, "admin-units", tmp_path / "units.gpkg") == 3
    with db() as s:
        rows = {u.code: u for u in s.scalars(select(AdminUnit).where(AdminUnit.code.like(f"{code}%")))}
    assert rows[f"{code}-C"].parent_id == rows[f"{code}-S"].id
    assert rows[f"{code}-S"].parent_id == rows[f"{code}-D"].id

    pno = unique("PERMIT")
    permits = gpd.GeoDataFrame({"permit_no": [pno], "holder": ["某公司"], "issued_at": ["2019-07-01"],
                                "street": [f"{code}街道"]}, geometry=[box_at(5, 5, 20, 20)], crs="EPSG:4326")
    permits.to_file(tmp_path / "permits.geojson", driver="GeoJSON")
    assert run_import(db, "permits", tmp_path / "permits.geojson") == 1

    ticket = unique("T")
    complaints = gpd.GeoDataFrame({
        "ticket_no": [f"{ticket}-1", f"{ticket}-2"], "received_at": ["2025-03-01 20:15", "2025-03-02"],
        "about": ["new", "stock"], "verdict": ["untrue", "true"], "is_key": ["true", "否"],
        "explained_at": [None, "2025-03-06"], "street": [f"{code}-S", f"{code}-S"],
    }, geometry=[Point(ORIGIN[0] + 0.001, ORIGIN[1] + 0.001), Point(ORIGIN[0] + 0.002, ORIGIN[1] + 0.002)],
        crs="EPSG:4326")
    complaints.to_crs(4549).to_file(tmp_path / "complaints.gpkg", driver="GPKG")
    assert run_import(db, "complaints", tmp_path / "complaints.gpkg") == 2
    with db() as s:
        got = {c.ticket_no: c for c in s.scalars(select(Complaint).where(Complaint.ticket_no.like(f"{ticket}%")))}
        assert s.scalar(select(Permit.street_id).where(Permit.permit_no == pno)) == rows[f"{code}-S"].id
    assert got[f"{ticket}-2"].is_key is False and got[f"{ticket}-2"].explained_at is not None
    assert got[f"{ticket}-1"].verdict == "untrue" and got[f"{ticket}-1"].street_id == rows[f"{code}-S"].id


# ----------------------------------------------------------------------------- bad files

BOWTIE = Polygon([(122.10, 31.40), (122.101, 31.401), (122.101, 31.40), (122.10, 31.401), (122.10, 31.40)])


def _bad_geometry(frame: gpd.GeoDataFrame, tmp: Path) -> Path:
    frame.loc[2, "geometry"] = BOWTIE
    frame.to_file(tmp / "bad.gpkg", driver="GPKG")
    return tmp / "bad.gpkg"


def _missing_code(frame: gpd.GeoDataFrame, tmp: Path) -> Path:
    frame.loc[1, "code"] = None
    frame.to_file(tmp / "bad.geojson", driver="GeoJSON")
    return tmp / "bad.geojson"


def _unknown_street(frame: gpd.GeoDataFrame, tmp: Path) -> Path:
    frame.loc[3, "street"] = "不存在街道"
    table = frame.drop(columns="geometry")
    table["wkt"] = ["SRID=4326;" + g.wkt for g in frame.geometry]
    table.to_csv(tmp / "bad.csv", index=False)
    return tmp / "bad.csv"


def _unreadable(frame: gpd.GeoDataFrame, tmp: Path) -> Path:
    (tmp / "bad.gpkg").write_bytes(b"this is not a GeoPackage\x00\x01" * 50)
    return tmp / "bad.gpkg"


def _no_crs(frame: gpd.GeoDataFrame, tmp: Path) -> Path:
    table = frame.drop(columns="geometry")
    table["wkt"] = frame.to_crs(4549).geometry.to_wkt()
    table.to_csv(tmp / "bad.csv", index=False)
    return tmp / "bad.csv"


def _wrong_type(frame: gpd.GeoDataFrame, tmp: Path) -> Path:
    frame.loc[4, "geometry"] = Point(*ORIGIN)
    frame.to_file(tmp / "bad.gpkg", driver="GPKG")
    return tmp / "bad.gpkg"


@pytest.mark.parametrize(("make", "row", "field", "reason"), [
    (_bad_geometry, 3, "geometry", "invalid polygon: Self-intersection"),
    (_missing_code, 2, "code", "required value is missing"),
    (_unknown_street, 4, "street", "unknown street '不存在街道'"),
    (_unreadable, None, None, "cannot read the file"),
    (_no_crs, None, None, "no coordinate reference system"),
    (_wrong_type, 5, "geometry", "expected a polygon, got Point"),
])
def test_bad_file_names_the_row_and_imports_nothing(
    make: Callable[[gpd.GeoDataFrame, Path], Path], row: int | None, field: str | None, reason: str,
    tmp_path: Path, db: sessionmaker[Session], street: AdminUnit,
) -> None:
    prefix = unique("BAD")
    path = make(parcels_frame(street.name, prefix=prefix), tmp_path)
    with db() as s:
        before = s.scalar(text("SELECT count(*) FROM parcels"))
    with pytest.raises(ImportFileError) as info:
        run_import(db, "parcels", path)
    err = info.value
    assert err.path == str(path) and err.row == row and err.field == field
    assert reason in str(err)
    assert str(path) in str(err)
    with db() as s:
        assert s.scalar(text("SELECT count(*) FROM parcels")) == before
    assert count(db, Parcel, prefix) == 0


def test_bad_violation_row_leaves_no_item_and_no_event(tmp_path: Path, db: sessionmaker[Session],
                                                       street: AdminUnit) -> None:
    prefix = unique("BADV")
    frame = gpd.GeoDataFrame({
        "code": [f"{prefix}-{i}" for i in range(3)], "kind": ["stock"] * 3, "vtype": ["shed", "shed", "spaceship"],
        "discovered_at": ["2024-01-01"] * 3, "status": ["closed"] * 3,
    }, geometry=[box_at(15.0 * i, 300.0, 10, 10) for i in range(3)], crs="EPSG:4326")
    frame.to_file(tmp_path / "v.gpkg", driver="GPKG")
    with db() as s:
        events = s.scalar(text("SELECT count(*) FROM violation_events"))
    with pytest.raises(ImportFileError, match=r"row 3, field 'vtype': 'spaceship' is not one of"):
        run_import(db, "violations", tmp_path / "v.gpkg")
    assert count(db, Violation, prefix) == 0
    with db() as s:
        assert s.scalar(text("SELECT count(*) FROM violation_events")) == events


def test_duplicate_in_database_refused(tmp_path: Path, db: sessionmaker[Session], street: AdminUnit) -> None:
    prefix = unique("DUP")
    frame = parcels_frame(street.name, n=2, prefix=prefix)
    frame.to_file(tmp_path / "a.gpkg", driver="GPKG")
    run_import(db, "parcels", tmp_path / "a.gpkg")
    with pytest.raises(ImportFileError, match=r"row 1, field 'code'.*already exists"):
        run_import(db, "parcels", tmp_path / "a.gpkg")
    assert count(db, Parcel, prefix) == 2


def test_cli_import_reports_the_bad_row(tmp_path: Path, engine: Engine, sessions: sessionmaker[Session]) -> None:
    from app import cli

    street = _street(sessions)  # committed: the command runs in its own process state

    prefix = unique("CLI")
    path = _missing_code(parcels_frame(street.name, prefix=prefix), tmp_path)
    env = {"DATABASE_URL": engine.url.render_as_string(hide_password=False)}
    result = CliRunner().invoke(cli, ["import", "parcels", str(path)], env=env)
    assert result.exit_code == 1
    assert f"{path}, row 2, field 'code': required value is missing" in result.output
    good = tmp_path / "good.geojson"
    parcels_frame(street.name, prefix=prefix).to_crs(32651).to_file(good, driver="GeoJSON")
    result = CliRunner().invoke(cli, ["import", "parcels", str(good)], env=env)
    assert result.exit_code == 0, result.output
    assert "imported 5 parcels" in result.output


def test_readme_documents_every_import_kind() -> None:
    from geo.io.schema import KINDS, markdown_table

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Import and export", 1)[1].split("\n## ", 1)[0]
    for kind in KINDS:
        assert markdown_table(kind) in section, f"README table of {kind} is out of date"
