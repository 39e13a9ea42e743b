"""Export to every format, filters, and round trips into a fresh database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import geopandas as gpd
import pytest
from geoalchemy2.shape import from_shape
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from geo.db import session_factory, transaction
from geo.errors import NotFound, ValidationError
from geo.io.exporter import FORMATS, export, query
from geo.io.importer import import_file
from geo.models import Detection
from geo.seed import seed_demo
from geo.synthetic import FULL
from geo.testdb import throwaway_database
from tests.builders import add_scene, square, unique

KINDS = ("admin-units", "parcels", "violations")


@pytest.fixture(scope="module")
def source() -> Iterator[Engine]:
    """A fresh database holding a small seeded district."""
    with throwaway_database(prefix="wj_export_src") as eng:
        seed_demo(eng, 11, today=date(2026, 6, 15), size=FULL.scaled(0.04), records_path=Path("absent.geojson"))
        yield eng


def frames(eng: Engine) -> dict[str, gpd.GeoDataFrame]:
    with session_factory(eng)() as s:
        return {k: query(s, k) for k in KINDS}


def assert_same(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame, kind: str) -> None:
    assert len(a) == len(b) > 0
    cols = [c for c in a.columns if c != "geometry"]
    assert list(b.columns) == list(a.columns)
    for c in cols:
        left, right = list(a[c]), list(b[c])
        if c == "area_m2":
            assert right == pytest.approx(left, abs=0.01), (kind, c)
        else:
            assert right == left, (kind, c)
    for g1, g2 in zip(a.geometry, b.geometry, strict=True):
        assert g1.normalize().equals_exact(g2.normalize(), 1e-9)


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_into_a_fresh_database(fmt: str, source: Engine, tmp_path: Path) -> None:
    with session_factory(source)() as s:
        for kind in KINDS:
            report = export(s, kind, fmt, tmp_path / f"{kind}.{fmt}")
            assert report.rows > 0
    with throwaway_database(prefix="wj_export_dst") as fresh:
        with transaction(session_factory(fresh)) as s:
            for kind in KINDS:
                import_file(s, kind, tmp_path / f"{kind}.{fmt}")
        before, after = frames(source), frames(fresh)
        for kind in KINDS:
            assert_same(before[kind], after[kind], kind)
        with fresh.connect() as conn:
            mismatched = conn.execute(text("""
                SELECT count(*) FROM violations v
                WHERE v.status IS DISTINCT FROM (SELECT e.to_status FROM violation_events e
                                                 WHERE e.violation_id = v.id ORDER BY e.id DESC LIMIT 1)""")).scalar()
            assert mismatched == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{k}.{fmt}" for k in KINDS)  # no temp files left


def test_filters_by_street_and_status(source: Engine, tmp_path: Path) -> None:
    with session_factory(source)() as s:
        street, n = s.execute(text("""
            SELECT a.name, count(*) FROM violations v JOIN admin_units a ON a.id = v.street_id
            WHERE v.status = 'closed' GROUP BY a.name ORDER BY count(*) DESC, a.name LIMIT 1""")).one()
        report = export(s, "violations", "geojson", tmp_path / "v.geojson", street=street, status="closed")
    got = gpd.read_file(tmp_path / "v.geojson")
    assert report.rows == len(got) == n > 0
    assert set(got["street"]) == {street} and set(got["status"]) == {"closed"}
    with session_factory(source)() as s:
        code = s.execute(text("SELECT code FROM admin_units WHERE name = :n"), {"n": street}).scalar_one()
        assert export(s, "parcels", "csv", tmp_path / "p.csv", street=code).rows == \
            s.execute(text("SELECT count(*) FROM parcels p JOIN admin_units a ON a.id = p.street_id "
                           "WHERE a.code = :c"), {"c": code}).scalar_one()


def test_failed_export_keeps_the_old_file(source: Engine, tmp_path: Path) -> None:
    out = tmp_path / "v.xlsx"
    out.write_bytes(b"old")
    with session_factory(source)() as s:
        with pytest.raises(NotFound, match="no street or town named"):
            export(s, "violations", "xlsx", out, street="不存在街道")
        with pytest.raises(ValidationError, match="status: 'gone' is not one of"):
            export(s, "violations", "xlsx", out, status="gone")
        with pytest.raises(ValidationError, match="parcels have no status"):
            export(s, "parcels", "xlsx", out, status="closed")
        assert out.read_bytes() == b"old"
        export(s, "violations", "xlsx", out)
    assert out.read_bytes()[:2] == b"PK"
    assert [p.name for p in tmp_path.iterdir()] == ["v.xlsx"]


def test_detections_export(session: Session, tmp_path: Path) -> None:
    before = add_scene(session, captured_at=datetime(2025, 1, 5, tzinfo=UTC))
    after = add_scene(session, captured_at=datetime(2025, 4, 5, tzinfo=UTC))
    fp = unique("FP")
    session.add(Detection(
        scene_id=after.id, before_scene_id=before.id, fingerprint=fp, change="appeared", klass="new_suspect",
        score=0.91, area_m2=42.5, before_captured_at=before.captured_at, after_captured_at=after.captured_at,
        review_status="pending", geom=from_shape(square(121.41, 31.22), srid=4326),
    ))
    session.flush()
    for fmt in ("gpkg", "csv"):
        export(session, "detections", fmt, tmp_path / f"d.{fmt}", status="pending")
    got = gpd.read_file(tmp_path / "d.gpkg")
    mine = got[got["scene_id"] == after.id]
    assert len(mine) == 1
    assert mine.iloc[0]["klass"] == "new_suspect" and mine.iloc[0]["area_m2"] == pytest.approx(42.5)
    assert mine.iloc[0]["after_captured_at"].startswith("2025-04-05")
    assert mine.geometry.iloc[0].normalize().equals_exact(square(121.41, 31.22).normalize(), 1e-9)
    csv = (tmp_path / "d.csv").read_text(encoding="utf-8-sig")
    assert "SRID=4326;MULTIPOLYGON" in csv
