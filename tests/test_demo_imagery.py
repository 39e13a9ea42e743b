"""The demo's imagery path: sample records, ingest, the queued detection jobs; and bad records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select, text

from geo import workflow
from geo.config import Settings
from geo.db import session_factory, transaction
from geo.demo_imagery import SAMPLE_DIR, load, load_records
from geo.errors import ImportFileError
from geo.models import Violation
from geo.testdb import throwaway_database


def test_demo_load_runs_the_queued_jobs_and_is_rerunnable(tmp_path: Path) -> None:
    folder = tmp_path / "samples"
    folder.mkdir()
    for name in ("area1_2024-09.tif", "area1_2025-03.tif", "records.geojson", "ground_truth.geojson"):
        (folder / name).symlink_to(SAMPLE_DIR / name)
    said: list[str] = []
    with throwaway_database(prefix="wj_demo_img") as eng:
        settings = Settings(data_dir=tmp_path / "data")
        first = load(eng, settings, say=said.append, folder=folder)
        records = [f["properties"] for f in json.loads((SAMPLE_DIR / "records.geojson").read_text())["features"]]
        assert first.violations_added == sum(r["record"] == "violation" for r in records)
        assert first.permits_added == sum(r["record"] == "permit" for r in records)
        assert len(first.scene_ids) == 2 and first.jobs_done == 2 and first.detections > 0
        with eng.connect() as conn:
            statuses = conn.execute(text("SELECT status::text FROM procrastinate_jobs WHERE task_name = 'detect_scene'"
                                         )).scalars().all()
            chips = conn.execute(text("SELECT chip_after FROM detections")).scalars().all()
            classes = set(conn.execute(text("SELECT klass FROM detections")).scalars())
        assert statuses == ["succeeded", "succeeded"]  # the durable queue ran them
        assert chips and all((settings.data_dir / c).is_file() for c in chips)
        assert classes & {"new_suspect", "known_changed", "demolition_evidence", "permitted"}
        moved = next(r for r in records if r["record"] == "violation" and r["status"] != "confirmed")
        with session_factory(eng)() as s:
            item = s.scalars(select(Violation).where(Violation.code == moved["code"])).one()
            assert item.status == moved["status"] and item.in_database == moved["in_database"]
            assert [e.to_status for e in item.events] == workflow.status_path(moved["status"], "confirmed")

        again = load(eng, settings, say=said.append, folder=folder)
        assert (again.violations_added, again.permits_added) == (0, 0)
        assert again.scene_ids == first.scene_ids and again.detections == first.detections
        assert any("already stored" in m for m in said)


def _write(path: Path, features: list[dict[str, object]]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return path


SQUARE = {"type": "Polygon", "coordinates": [[[121.0, 31.0], [121.0001, 31.0], [121.0001, 31.0001],
                                              [121.0, 31.0001], [121.0, 31.0]]]}


def test_bad_records_name_row_and_field_and_leave_nothing(engine, tmp_path: Path) -> None:
    good = {"type": "Feature", "geometry": SQUARE, "properties": {
        "record": "violation", "code": "BAD-TEST-1", "status": "confirmed", "discovered_at": "2024-01-01"}}
    cases = [
        ({"type": "Feature", "geometry": SQUARE, "properties": {
            "record": "violation", "code": "BAD-TEST-2", "status": "flying", "discovered_at": "2024-01-01"}},
         r"row 2, field 'status': unknown status"),
        ({"type": "Feature", "geometry": SQUARE, "properties": {
            "record": "violation", "code": "BAD-TEST-3", "discovered_at": "yesterday"}},
         r"row 2, field 'discovered_at': not a date"),
        ({"type": "Feature", "geometry": {"type": "Point", "coordinates": [121, 31]}, "properties": {
            "record": "permit", "permit_no": "BAD-P"}}, r"row 2, field 'geometry'"),
        ({"type": "Feature", "geometry": SQUARE, "properties": {"record": "tree"}}, r"row 2, field 'record'"),
    ]
    factory = session_factory(engine)
    for bad, message in cases:
        path = _write(tmp_path / "records.geojson", [good, bad])
        with pytest.raises(ImportFileError, match=message) as info:
            with transaction(factory) as s:
                load_records(s, path)
        assert str(path) in str(info.value)
        with factory() as s:
            assert s.scalars(select(Violation).where(Violation.code.like("BAD-TEST-%"))).first() is None
    with pytest.raises(ImportFileError, match="not a GeoJSON"):
        with transaction(factory) as s:
            load_records(s, _write(tmp_path / "x.geojson", []).with_suffix(".missing"))
