"""The synthetic demo district: pure generation, reproducibility, and loading into PostGIS."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest
import shapely
from shapely.geometry import box, mapping
from sqlalchemy import text
from sqlalchemy.engine import Engine

from geo import synthetic, workflow
from geo.errors import ConflictError
from geo.seed import DOMAIN_TABLES, seed_demo
from geo.synthetic import FULL, TZ, District, generate
from geo.testdb import throwaway_database

TODAY = date(2026, 11, 22)
SMALL = FULL.scaled(0.05)
NO_RECORDS = Path("absent-records.geojson")


@pytest.fixture(scope="module")
def full() -> District:
    return generate(2025, TODAY)


def test_full_size_counts_and_spread(full: District) -> None:
    c = full.counts()
    assert 18_000 <= c["parcels"] <= 22_000
    assert c["admin_units"] == 1 + 10 + sum(1 for u in full.units if u.level == "community")
    assert 30 <= sum(1 for u in full.units if u.level == "community") <= 50
    stock = [v for v in full.violations if v.kind == "stock" and v.in_database]
    assert 2_900 <= len(stock) <= 3_100
    share = Counter(v.status for v in stock)
    closed = share["closed"] / len(stock)
    assert 0.30 <= closed <= 0.55
    assert 0.30 <= (share["confirmed"] + share["case_filed"]) / len(stock) <= 0.55
    for s in ("annotated", "annotation_lifted", "regularised", "permit_granted", "demolished"):
        assert share[s] > 0, s
    before_close = Counter(v.events[-2].to_status for v in stock if v.status == "closed")
    assert before_close["permit_granted"] > before_close["demolished"] > 0  # 补证销项 dominates, as in Changning
    assert {v.vtype for v in full.violations} == {t.value for t in synthetic.ViolationType}

    new = [v for v in full.violations if v.kind == "new"]
    assert 100 <= len(new) <= 220
    removed = [v for v in new if v.status == "closed"]
    assert len(removed) / len([v for v in new if v.status != "dismissed"]) > 0.8  # dynamic zero growth
    days = sorted((v.events[-1].at - v.events[0].at).days for v in removed)
    assert days[len(days) // 2] <= 30  # removed quickly
    assert {v.source for v in new} == {"imagery", "patrol", "complaint"}
    assert any(v.rebuilt_from_code for v in new)

    comp = full.complaints
    about = Counter(x.about for x in comp)
    assert 0.10 <= about["new"] / len(comp) <= 0.20
    true_stock = [x for x in comp if x.about == "stock" and x.verdict == "true" and x.is_key]
    assert 0.85 <= sum(x.resolved_at is not None for x in true_stock) / len(true_stock) <= 0.97
    assert any(x.explained_at for x in comp) and any(x.verdict == "untrue" for x in comp)
    assert 300 <= len(full.sorties) <= 600 and len({s.pilot for s in full.sorties}) >= 5
    assert len(full.permits) > 1_000


def test_targets_sum_to_the_district_target(full: District) -> None:
    for year in (TODAY.year - 1, TODAY.year):
        rows = [t for t in full.targets if t.year == year and t.unit_code != synthetic.DISTRICT_CODE]
        assert len(rows) == 10
        assert sum(t.closure_area_m2 for t in rows) == pytest.approx(120_000.0, abs=0.001)
        assert sum(t.closure_count for t in rows) == synthetic.DISTRICT_TARGET_COUNT
        assert sum(t.permit_area_m2 or 0 for t in rows) == pytest.approx(36_772.0, abs=0.001)
        assert sum(t.permit_count or 0 for t in rows) == synthetic.DISTRICT_PERMIT_TARGET_COUNT


def test_streets_tile_the_district(full: District) -> None:
    streets = [u for u in full.units if u.level == "street"]
    assert [s.name for s in streets] == [name for _, name, _ in synthetic.STREETS]
    union = shapely.union_all([s.geom for s in streets])
    extent = box(*synthetic.BOUNDS)
    assert union.symmetric_difference(extent).area < 1e-9
    assert sum(s.geom.area for s in streets) == pytest.approx(extent.area, rel=1e-9)  # no overlaps
    assert all(p.address.startswith("长宁区") and p.address.endswith("号") for p in full.parcels[:500])


def test_event_chains_are_valid_and_in_business_hours(full: District) -> None:
    start = TODAY - timedelta(days=365)
    for v in full.violations:
        prev = None
        for e in v.events:
            assert e.from_status == prev
            workflow.check(prev, e.to_status)
            local = e.at.astimezone(TZ)
            assert local.weekday() < 5 and (9, 0) <= (local.hour, local.minute) <= (17, 30), (v.code, local)
            assert local.date() < TODAY
            prev = e.to_status
        assert [e.at for e in v.events] == sorted(e.at for e in v.events)
        assert v.discovered_at == v.events[0].at
        if v.kind == "new" and not v.rebuilt_from_code:
            assert v.events[0].at.date() >= start - timedelta(days=3)
    in_window = [e for v in full.violations for e in v.events[1:] if e.at.astimezone(TZ).date() >= start]
    months = Counter(e.at.astimezone(TZ).strftime("%Y-%m") for e in in_window)
    assert len(months) >= 12 and min(months.values()) > 50  # the whole year has history


def test_same_seed_same_district_other_seed_other_district() -> None:
    a = generate(5, TODAY, SMALL)
    b = generate(5, TODAY, SMALL)
    c = generate(6, TODAY, SMALL)
    assert a == b
    assert a.violations != c.violations


def _table_digest(eng: Engine) -> dict[str, str]:
    skip = {"created_at", "recorded_at"}
    out = {}
    with eng.connect() as conn:
        for table in (*DOMAIN_TABLES, "violation_events"):
            cols = [r[0] for r in conn.execute(text(
                "SELECT column_name FROM information_schema.columns WHERE table_name = :t ORDER BY ordinal_position"),
                {"t": table}) if r[0] not in skip]
            out[table] = conn.execute(text(
                f"SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) FROM (SELECT {', '.join(cols)} FROM {table}) t"
            )).scalar_one()
    return out


def _check_log(eng: Engine) -> None:
    with eng.connect() as conn:
        assert conn.execute(text("""
            SELECT count(*) FROM violations v
            WHERE v.status IS DISTINCT FROM (SELECT e.to_status FROM violation_events e
                                             WHERE e.violation_id = v.id ORDER BY e.id DESC LIMIT 1)
               OR v.status_at IS DISTINCT FROM (SELECT e.occurred_at FROM violation_events e
                                                WHERE e.violation_id = v.id ORDER BY e.id DESC LIMIT 1)
        """)).scalar() == 0
        assert conn.execute(text("""
            SELECT count(*) FROM (
                SELECT from_status, lag(to_status) OVER (PARTITION BY violation_id ORDER BY id) AS prev,
                       occurred_at, lag(occurred_at) OVER (PARTITION BY violation_id ORDER BY id) AS prev_at
                FROM violation_events) x
            WHERE from_status IS DISTINCT FROM prev OR occurred_at < prev_at
        """)).scalar() == 0


def test_seed_loads_reproducibly_and_refuses_a_second_time(tmp_path: Path) -> None:
    records = tmp_path / "records.geojson"
    vgeom, pgeom = box(121.4301, 31.2201, 121.4302, 31.2202), box(121.4305, 31.2205, 121.4307, 31.2207)
    records.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": mapping(vgeom), "properties": {
            "record": "violation", "code": "CN-AREA9-001", "vtype": "rooftop", "kind": "stock", "status": "annotated",
            "in_database": True, "discovered_at": "2023-06-01", "source": "database"}},
        {"type": "Feature", "geometry": mapping(pgeom), "properties": {
            "record": "permit", "permit_no": "规建许(2024)-9001", "holder": "示例业主", "issued_at": "2024-11-05"}},
        {"type": "Feature", "geometry": mapping(pgeom), "properties": {"record": "unrelated"}},
    ]}), encoding="utf-8")
    digests = []
    for _ in range(2):
        with throwaway_database(prefix="wj_seed") as eng:
            report = seed_demo(eng, 42, today=TODAY, size=SMALL, records_path=records)
            assert report.records_file == str(records)
            with eng.connect() as conn:
                got = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                       for t in (*DOMAIN_TABLES, "violation_events")}
                assert conn.execute(text(
                    "SELECT status FROM violations WHERE code = 'CN-AREA9-001'")).scalar_one() == "annotated"
                assert conn.execute(text(
                    "SELECT street_id IS NOT NULL FROM permits WHERE permit_no = '规建许(2024)-9001'")).scalar_one()
            assert got == report.counts
            assert 900 <= got["parcels"] <= 1_500 and got["violations"] >= 150 and got["complaints"] >= 50
            _check_log(eng)
            digests.append(_table_digest(eng))
            with pytest.raises(ConflictError, match="not empty"):
                seed_demo(eng, 42, today=TODAY, size=SMALL, records_path=NO_RECORDS)
            with eng.connect() as conn:
                assert conn.execute(text("SELECT count(*) FROM parcels")).scalar_one() == got["parcels"]
    assert digests[0] == digests[1]


def test_full_size_seed_in_a_throwaway_database() -> None:
    with throwaway_database(prefix="wj_seed_full") as eng:
        stages: list[str] = []
        report = seed_demo(eng, 2025, today=TODAY, progress=stages.append)
        assert stages[-1] == "commit" and len(stages) == 10
        c = report.counts
        assert 18_000 <= c["parcels"] <= 22_000 and 3_000 <= c["violations"] <= 3_500
        assert c["violation_events"] > 2 * c["violations"]
        _check_log(eng)
        with eng.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM parcels")).scalar_one() == c["parcels"]
            assert conn.execute(text("""
                SELECT count(*) FROM parcels p JOIN admin_units s ON s.id = p.street_id
                WHERE NOT ST_Covers(ST_Buffer(s.geom, 1e-7), p.geom)""")).scalar_one() == 0
            assert conn.execute(text(
                "SELECT sum(closure_area_m2) FROM annual_targets t JOIN admin_units u ON u.id = t.unit_id "
                "WHERE u.level = 'street' AND t.year = :y"), {"y": TODAY.year}).scalar_one() == 120_000


def test_seed_demo_command(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from app import cli

    with throwaway_database(prefix="wj_seed_cli") as eng:
        env = {"DATABASE_URL": eng.url.render_as_string(hide_password=False)}
        args = ["seed-demo", "--seed", "3", "--today", "2026-03-01", "--scale", "0.02"]
        first = CliRunner().invoke(cli, args, env=env)
        assert first.exit_code == 0, first.output
        assert "seeded in" in first.output and "parcels: " in first.output
        second = CliRunner().invoke(cli, args, env=env)
        assert second.exit_code == 1
        assert "the database is not empty" in second.output
        out = tmp_path / "closed.csv"
        exported = CliRunner().invoke(cli, ["export", "violations", "--format", "csv", "--out", str(out),
                                            "--status", "closed"], env=env)
        assert exported.exit_code == 0, exported.output
        assert out.read_text(encoding="utf-8-sig").count("SRID=4326;MULTIPOLYGON") > 0
