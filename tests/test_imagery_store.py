"""The imagery store: COG conversion, content addressing, crash safety, the real aerial pair."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window
from shapely.geometry import box
from sqlalchemy import text
from sqlalchemy.engine import Engine

from geo import crs as gcrs
from geo.config import Settings
from geo.imagery.errors import ImageryError
from geo.imagery.ingest import ingest_file
from geo.imagery.store import STORE_LOCK_KEY, cleanup_orphans
from geo.imagery.validate import Limits
from tests.imagery_files import CAPTURED, DISTRICT, write_geotiff
from tests.test_imagery_bad_input import db_state, store_files

ROOT = Path(__file__).resolve().parents[1]
AERIAL = ("m_4709963_se_14_1_20090818.tif", "m_4709963_se_14_1_20200831.tif")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    data = tmp_path / "data"
    data.mkdir()
    return Settings(data_dir=data)


def _crash_script(db_url: str, data_dir: Path, src: Path, stage: str) -> str:
    return textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(ROOT)!r})
        from pathlib import Path
        from geo.config import Settings
        from geo.db import make_engine
        from geo.imagery.ingest import ingest_file
        from geo.imagery.validate import Limits
        from tests.imagery_files import CAPTURED
        def crash(s):
            if s == {stage!r}:
                os._exit(9)
        engine = make_engine({db_url!r})
        ingest_file(engine, Settings(data_dir=Path({str(data_dir)!r})), Path({str(src)!r}), sensor="drone",
                    captured_at=CAPTURED, limits=Limits(), on_stage=crash)
        os._exit(0)
    """)


CRASH_STAGES = ("converted", "renamed", "recorded")


@pytest.mark.parametrize("stage", CRASH_STAGES)
def test_crash_leaves_nothing_after_cleanup(engine: Engine, settings: Settings, tmp_path: Path, stage: str) -> None:
    """A process killed at any stage leaves no row; what it wrote is removed at the next start."""
    # a distinct image per stage (each case ingests its file at the end, into the same database)
    src = write_geotiff(tmp_path / f"crash-{stage}.tif", 512, 512, seed=700 + CRASH_STAGES.index(stage))
    before = db_state(engine)
    url = engine.url.render_as_string(hide_password=False)
    proc = subprocess.run([sys.executable, "-c", _crash_script(url, settings.data_dir, src, stage)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 9, proc.stderr
    assert db_state(engine) == before
    left = store_files(settings.data_dir)
    assert left, "the crash should have left a file behind"
    expect_tmp = stage == "converted"
    assert all((p.parent.name == "tmp") == expect_tmp for p in left), left
    # the killed process's server backend lets go of the store's lock once the server has seen its
    # connection close, a moment later; until then the store counts as live and nothing is touched
    deadline = time.monotonic() + 10.0
    while (removed := cleanup_orphans(engine, settings.data_dir)) is None and time.monotonic() < deadline:
        assert store_files(settings.data_dir) == left
        time.sleep(0.05)
    assert removed is not None and sorted(removed) == left
    assert store_files(settings.data_dir) == []
    # and the same file can then be ingested normally
    res = ingest_file(engine, settings, src, sensor="drone", captured_at=CAPTURED, limits=Limits(district=DISTRICT))
    assert (settings.data_dir / res.relpath).is_file()


def test_cleanup_keeps_complete_scenes(engine: Engine, settings: Settings, tmp_path: Path) -> None:
    res = ingest_file(engine, settings, write_geotiff(tmp_path / "keep.tif", seed=41), sensor="drone",
                      captured_at=CAPTURED, limits=Limits(district=DISTRICT))
    stray = settings.data_dir / "scenes" / "ff" / ("f" * 64 + ".tif")
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"nobody knows me")
    removed = cleanup_orphans(engine, settings.data_dir)
    assert removed == [stray]
    assert (settings.data_dir / res.relpath).is_file()


def test_cleanup_waits_for_a_live_store(engine: Engine, settings: Settings) -> None:
    tmp = settings.data_dir / "scenes" / "tmp"
    tmp.mkdir(parents=True)
    (tmp / "live.part.tif").write_bytes(b"being written")
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock_shared(:k)"), {"k": STORE_LOCK_KEY})
        assert cleanup_orphans(engine, settings.data_dir) is None
        assert (tmp / "live.part.tif").exists()
        conn.execute(text("SELECT pg_advisory_unlock_shared(:k)"), {"k": STORE_LOCK_KEY})
    assert cleanup_orphans(engine, settings.data_dir) == [tmp / "live.part.tif"]


def test_failing_record_removes_the_file(engine: Engine, settings: Settings, tmp_path: Path) -> None:
    """A database error inside the transaction rolls back and deletes the renamed file."""
    src = write_geotiff(tmp_path / "dbfail.tif", seed=42)
    before = db_state(engine)

    def boom(stage: str) -> None:
        if stage == "recorded":
            raise ImageryError("dbfail.tif", "test", "测试", "test failure")

    with pytest.raises(ImageryError):
        ingest_file(engine, settings, src, sensor="drone", captured_at=CAPTURED, limits=Limits(), on_stage=boom)
    assert db_state(engine) == before
    assert store_files(settings.data_dir) == []


# ----------------------------------------------------------------------------- the real pair
@pytest.fixture(scope="module")
def aerial_store(engine: Engine, shared_data: Path, tmp_path_factory: pytest.TempPathFactory
                 ) -> tuple[Settings, list[int]]:
    """Both real aerial images ingested (as satellite scenes, district rule off: they are in North Dakota)."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("aerial-data"))
    ids = []
    for name in AERIAL:
        res = ingest_file(engine, settings, shared_data / "aerial" / name, sensor="satellite",
                          captured_at=CAPTURED, limits=Limits())
        ids.append(res.scene_id)
    return settings, ids


def test_real_pair_scene_rows(engine: Engine, aerial_store: tuple[Settings, list[int]], shared_data: Path) -> None:
    _settings, ids = aerial_store
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT crs, resolution_m, width, height, band_count, dtype, sensor, path, "
                                 "ST_AsText(footprint) AS wkt FROM scenes WHERE id = ANY(:ids) ORDER BY id"),
                            {"ids": ids}).mappings().all()
    assert [r["crs"] for r in rows] == ["EPSG:26914", "EPSG:26914"]
    assert all(r["resolution_m"] == pytest.approx(5.0) for r in rows)
    assert (rows[0]["width"], rows[0]["height"], rows[0]["band_count"], rows[0]["dtype"]) == (934, 724, 4, "uint8")
    import shapely

    foot = shapely.from_wkt(rows[0]["wkt"])
    lon, lat = foot.centroid.x, foot.centroid.y
    assert -99.2 < lon < -99.1 and 47.0 < lat < 47.05


def test_real_pair_footprint_reprojects_back(engine: Engine, aerial_store: tuple[Settings, list[int]],
                                             shared_data: Path) -> None:
    """EPSG:26914 → stored EPSG:4326 footprint → back to EPSG:26914 matches the image bounds within 1 m."""
    import shapely

    _, ids = aerial_store
    with engine.connect() as conn:
        wkt = conn.execute(text("SELECT ST_AsText(footprint) FROM scenes WHERE id = :i"), {"i": ids[0]}).scalar()
    back = gcrs.transform(shapely.from_wkt(wkt), 4326, 26914)
    with rasterio.open(shared_data / "aerial" / AERIAL[0]) as ds:
        expected = box(*ds.bounds)
    assert back.symmetric_difference(expected).area < expected.length * 1.0  # under a 1 m band


def test_real_pair_cog_is_valid_and_lossless(aerial_store: tuple[Settings, list[int]], engine: Engine,
                                             shared_data: Path) -> None:
    from rio_cogeo.cogeo import cog_validate

    settings, ids = aerial_store
    with engine.connect() as conn:
        rel = conn.execute(text("SELECT path FROM scenes WHERE id = :i"), {"i": ids[1]}).scalar()
    cog = settings.data_dir / rel
    valid, errors, _warnings = cog_validate(str(cog), quiet=True)
    assert valid, errors
    with rasterio.open(cog) as c, rasterio.open(shared_data / "aerial" / AERIAL[1]) as s:
        assert c.overviews(1), "overviews expected"
        assert (c.crs, c.transform, c.count) == (s.crs, s.transform, s.count)
        win = Window(300, 200, 256, 256)  # a window straddling internal tiles
        assert np.array_equal(c.read(window=win), s.read(window=win))


def test_real_pair_twice_names_the_first(engine: Engine, aerial_store: tuple[Settings, list[int]],
                                         shared_data: Path) -> None:
    settings, ids = aerial_store
    with pytest.raises(ImageryError) as info:
        ingest_file(engine, settings, shared_data / "aerial" / AERIAL[0], sensor="satellite",
                    captured_at=CAPTURED, limits=Limits())
    assert f"#{ids[0]}" in str(info.value) and AERIAL[0] in str(info.value)


def test_real_pair_outside_configured_district(engine: Engine, settings: Settings, shared_data: Path) -> None:
    """With the Shanghai district configured, the North Dakota image is refused, naming the distance."""
    before = db_state(engine)
    with pytest.raises(ImageryError) as info:
        ingest_file(engine, settings, shared_data / "aerial" / AERIAL[0], sensor="satellite",
                    captured_at=CAPTURED, limits=Limits(district=DISTRICT))
    assert info.value.code == "outside_district" and "km" in info.value.reason_en
    assert db_state(engine) == before


def test_cli_ingest_prints_one_line_per_file(engine: Engine, tmp_path: Path) -> None:
    good = write_geotiff(tmp_path / "cli-good.tif", seed=51)
    bad = tmp_path / "cli-bad.tif"
    bad.write_bytes(b"")
    env = {**os.environ, "DATABASE_URL": engine.url.render_as_string(hide_password=False),
           "DATA_DIR": str(tmp_path / "cli-data")}
    proc = subprocess.run([sys.executable, str(ROOT / "app.py"), "ingest", str(good), str(bad), "--sensor", "drone",
                           "--captured", "2025-03-14T10:20+08:00", "--pilot", "王飞手", "--sortie", "CLI-S1",
                           "--no-district-check"], capture_output=True, text=True, env=env, timeout=180)
    assert proc.returncode == 1  # one file was refused
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(("✔", "✘"))]
    assert len(lines) == 2, proc.stdout + proc.stderr
    assert lines[0].startswith("✔ cli-good.tif") and "scene #" in lines[0]
    assert lines[1].startswith("✘ cli-bad.tif") and "0 bytes" in lines[1]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT pilot FROM sorties WHERE code = 'CLI-S1'")).scalar() == "王飞手"


def test_watch_folder_ingests_and_sorts(engine: Engine, settings: Settings, tmp_path: Path) -> None:
    from geo.imagery.batch import watch

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write_geotiff(inbox / "卫星_01.tif", seed=61, res=0.5)
    (inbox / "broken.tif").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    (inbox / "notes.txt").write_text("not imagery")
    seen: list[str] = []
    watch(engine, settings, inbox, sensor="satellite", captured_at=CAPTURED, sortie=None,
          limits=Limits(district=DISTRICT), on_outcome=lambda o: seen.append(o.line), interval=0, max_polls=2)
    assert len(seen) == 2 and any("卫星_01.tif" in s and "scene #" in s for s in seen)
    assert (inbox / "done" / "卫星_01.tif").exists()
    assert (inbox / "refused" / "broken.tif").exists()
    assert "PNG" in (inbox / "refused" / "broken.tif.error.txt").read_text(encoding="utf-8")
    assert (inbox / "notes.txt").exists()  # not an image: left alone
