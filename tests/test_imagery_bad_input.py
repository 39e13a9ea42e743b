"""Every bad input of the imagery issue: a clear error, nothing stored, the database unchanged."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from geo.config import Settings
from geo.imagery.errors import DuplicateScene, ImageryError
from geo.imagery.ingest import SortieInput, ingest_file
from geo.imagery.validate import Limits
from tests.imagery_files import (
    CAPTURED,
    DISTRICT,
    corrupt_block,
    huge_header_tiff,
    png_renamed,
    truncate,
    write_gcps_only,
    write_geotiff,
    zip_renamed,
)

TABLES = ("scenes", "sorties", "detection_jobs", "procrastinate_jobs")


def db_state(engine: Engine) -> dict[str, int]:
    """Row counts of every table an ingest writes."""
    with engine.connect() as conn:
        return {t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in TABLES}


def store_files(data_dir: Path) -> list[Path]:
    """Every file in the imagery store (temporary ones included)."""
    root = data_dir / "scenes"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    data = tmp_path / "data"
    data.mkdir()
    return Settings(data_dir=data)


@pytest.fixture
def src(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    return folder


def refuse(engine: Engine, settings: Settings, path: Path, code: str, name: str | None = None,
           limits: Limits | None = None, sensor: str = "drone") -> ImageryError:
    """Ingest ``path``, expect a refusal with ``code``, and check nothing changed."""
    before, files_before = db_state(engine), store_files(settings.data_dir)
    with pytest.raises(ImageryError) as info:
        ingest_file(engine, settings, path, name=name, sensor=sensor, captured_at=CAPTURED,
                    sortie=SortieInput(pilot="张飞手"), limits=limits or Limits(district=DISTRICT))
    err = info.value
    assert err.code == code, str(err)
    shown = name if name is not None else path.name
    assert str(err).startswith(shown.encode("unicode_escape").decode() if err.code == "bad_name" and not
                               shown.isprintable() else shown)
    assert err.reason_zh and err.reason_en and err.reason_zh != err.reason_en
    assert db_state(engine) == before
    assert store_files(settings.data_dir) == files_before
    return err


def test_good_file_is_stored(engine: Engine, settings: Settings, src: Path) -> None:
    path = write_geotiff(src / "好的影像.tif", seed=11)
    before = db_state(engine)
    res = ingest_file(engine, settings, path, sensor="drone", captured_at=CAPTURED,
                      sortie=SortieInput(pilot="张飞手", drone="M300", task="真如镇巡查"),
                      limits=Limits(district=DISTRICT))
    after = db_state(engine)
    assert after["scenes"] == before["scenes"] + 1
    assert after["detection_jobs"] == before["detection_jobs"] + 1
    assert after["procrastinate_jobs"] == before["procrastinate_jobs"] + 1
    assert (settings.data_dir / res.relpath).is_file()
    assert res.relpath == f"scenes/{res.sha256[:2]}/{res.sha256}.tif"


def test_truncated_tiff(engine: Engine, settings: Settings, src: Path) -> None:
    good = write_geotiff(src / "good.tif", 512, 512, seed=2)
    err = refuse(engine, settings, truncate(good, src / "截断.tif"), "corrupt")
    assert "truncated" in err.reason_en


def test_truncated_header(engine: Engine, settings: Settings, src: Path) -> None:
    good = write_geotiff(src / "good.tif", seed=3)
    refuse(engine, settings, truncate(good, src / "head.tif", 0.00003), "truncated")


def test_png_renamed(engine: Engine, settings: Settings, src: Path) -> None:
    err = refuse(engine, settings, png_renamed(src / "photo.tif"), "not_tiff")
    assert "PNG" in err.reason_en and "PNG" in err.reason_zh


def test_zip_renamed(engine: Engine, settings: Settings, src: Path) -> None:
    inner = write_geotiff(src / "inner.tif", seed=4)
    err = refuse(engine, settings, zip_renamed(src / "archive.tif", inner), "not_tiff")
    assert "ZIP" in err.reason_en


def test_zero_bytes(engine: Engine, settings: Settings, src: Path) -> None:
    p = src / "empty.tif"
    p.write_bytes(b"")
    err = refuse(engine, settings, p, "empty")
    assert "0 bytes" in err.reason_en


def test_one_pixel(engine: Engine, settings: Settings, src: Path) -> None:
    err = refuse(engine, settings, write_geotiff(src / "dot.tif", 1, 1, data=np.full((3, 1, 1), 9, "uint8")),
                 "too_small")
    assert "1 × 1" in err.reason_en


def test_huge_header_refused_before_allocation(engine: Engine, settings: Settings, src: Path) -> None:
    """10^6 × 10^6 px × 3 bytes would be 3 TB; the header parser refuses before GDAL opens it."""
    import resource

    path = huge_header_tiff(src / "huge.tif")
    assert path.stat().st_size < 1024
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    err = refuse(engine, settings, path, "too_large")
    assert "1,000,000 × 1,000,000" in err.reason_en
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before < 100_000  # KiB: < 100 MB grew


def test_corrupt_compressed_block(engine: Engine, settings: Settings, src: Path) -> None:
    good = write_geotiff(src / "good.tif", 512, 512, seed=5)
    err = refuse(engine, settings, corrupt_block(good, src / "corrupt.tif"), "corrupt")
    assert "row" in err.reason_en and "行" in err.reason_zh


def test_no_crs(engine: Engine, settings: Settings, src: Path) -> None:
    refuse(engine, settings, write_geotiff(src / "nocrs.tif", crs=None), "no_crs")


def test_gcps_only(engine: Engine, settings: Settings, src: Path) -> None:
    err = refuse(engine, settings, write_gcps_only(src / "gcps.tif"), "gcps_only")
    assert "GCP" in err.reason_en and "GCP" in err.reason_zh


def test_footprint_1000_km_away(engine: Engine, settings: Settings, src: Path) -> None:
    # about 1000 km west of Shanghai, in geographic coordinates (0.2 m pixels)
    far = write_geotiff(src / "far.tif", lon=111.0, lat=31.2, crs="EPSG:4326", res=0.000002)
    err = refuse(engine, settings, far, "outside_district")
    km = float(err.reason_en.split("about ")[1].split(" km")[0].replace(",", ""))
    assert 900 < km < 1100


def test_nan_imagery(engine: Engine, settings: Settings, src: Path) -> None:
    nan = np.full((3, 128, 128), np.nan, dtype="float32")
    err = refuse(engine, settings, write_geotiff(src / "nan.tif", 128, 128, dtype="float32", data=nan), "dtype")
    assert "NaN" in err.reason_en


def test_all_nodata(engine: Engine, settings: Settings, src: Path) -> None:
    zeros = np.zeros((3, 256, 256), dtype="uint8")
    refuse(engine, settings, write_geotiff(src / "nodata.tif", nodata=0, data=zeros), "all_nodata")


def test_all_transparent_alpha(engine: Engine, settings: Settings, src: Path) -> None:
    data = np.zeros((4, 256, 256), dtype="uint8")
    data[:3] = 120
    path = write_geotiff(src / "alpha.tif", count=4, data=data, photometric="RGB", alpha="YES")
    refuse(engine, settings, path, "all_nodata")


def test_two_bands(engine: Engine, settings: Settings, src: Path) -> None:
    refuse(engine, settings, write_geotiff(src / "two.tif", count=2), "bands")


@pytest.mark.parametrize("name", ["../../etc/passwd.tif", "..\\up.tif", "a/b.tif", ".hidden.tif"])
def test_path_in_filename(engine: Engine, settings: Settings, src: Path, name: str) -> None:
    path = write_geotiff(src / "ok.tif", seed=6)
    refuse(engine, settings, path, "bad_name", name=name)


@pytest.mark.parametrize("name", ["evil\u202efit.tif", "zero\u200bwidth.tif", "bell\x07.tif", "e\u0301.tif",
                                  "private\ue000.tif"])
def test_odd_unicode_filename(engine: Engine, settings: Settings, src: Path, name: str) -> None:
    path = write_geotiff(src / "ok.tif", seed=7)
    err = refuse(engine, settings, path, "bad_name", name=name)
    assert "\u202e" not in str(err)  # the message itself is safe to show


def test_chinese_filename_is_fine(engine: Engine, settings: Settings, src: Path) -> None:
    path = write_geotiff(src / "x.tif", seed=8)
    res = ingest_file(engine, settings, path, name="真如镇_2025年3月_正射.tif", sensor="drone", captured_at=CAPTURED,
                      limits=Limits(district=DISTRICT))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT original_name FROM scenes WHERE id = :i"), {"i": res.scene_id}).scalar() \
            == "真如镇_2025年3月_正射.tif"


def test_implausible_capture_time(engine: Engine, settings: Settings, src: Path) -> None:
    from datetime import datetime, timedelta

    path = write_geotiff(src / "time.tif", seed=9)
    before = db_state(engine)
    for when, code in ((None, "no_capture_time"), (datetime(2025, 3, 14, 10, 20), "naive_time"),
                       (datetime(1970, 1, 1, tzinfo=UTC), "implausible_time"),
                       (datetime.now(UTC) + timedelta(days=30), "implausible_time")):
        with pytest.raises(ImageryError) as info:
            ingest_file(engine, settings, path, sensor="drone", captured_at=when)
        assert info.value.code == code
    assert db_state(engine) == before


def test_resolution_outside_sensor_range(engine: Engine, settings: Settings, src: Path) -> None:
    err = refuse(engine, settings, write_geotiff(src / "coarse.tif", res=30.0), "resolution")
    assert "30 m" in err.reason_en


def test_same_file_twice_names_the_first(engine: Engine, settings: Settings, src: Path) -> None:
    path = write_geotiff(src / "第一次.tif", seed=21)
    first = ingest_file(engine, settings, path, sensor="drone", captured_at=CAPTURED, limits=Limits(district=DISTRICT))
    copy = src / "again.tif"
    copy.write_bytes(path.read_bytes())
    before, files = db_state(engine), store_files(settings.data_dir)
    with pytest.raises(DuplicateScene) as info:
        ingest_file(engine, settings, copy, sensor="drone", captured_at=CAPTURED, limits=Limits(district=DISTRICT))
    err = info.value
    assert err.existing_id == first.scene_id
    assert f"#{first.scene_id}" in str(err) and "第一次.tif" in str(err)
    assert db_state(engine) == before and store_files(settings.data_dir) == files


def test_two_uploads_at_the_same_moment(engine: Engine, settings: Settings, src: Path) -> None:
    paths = [write_geotiff(src / f"同时{i}.tif", 512, 512, seed=100 + i) for i in range(2)]
    before = db_state(engine)
    barrier = threading.Barrier(2)
    results: dict[int, object] = {}

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = ingest_file(engine, settings, paths[i], sensor="drone", captured_at=CAPTURED,
                                     sortie=SortieInput(code="S-SAME-MOMENT", pilot="李飞手"),
                                     limits=Limits(district=DISTRICT))
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert all(not isinstance(r, Exception) for r in results.values()), results
    after = db_state(engine)
    assert after["scenes"] == before["scenes"] + 2
    assert after["sorties"] == before["sorties"] + 1  # both joined the one sortie
    with engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM scenes s JOIN sorties o ON o.id = s.sortie_id "
                              "WHERE o.code = 'S-SAME-MOMENT'")).scalar()
    assert n == 2
    assert len([p for p in store_files(settings.data_dir) if p.parent.name != "tmp"]) == 2


def test_same_file_twice_at_the_same_moment(engine: Engine, settings: Settings, src: Path) -> None:
    path = write_geotiff(src / "twin.tif", 512, 512, seed=31)
    copy = src / "twin-copy.tif"
    copy.write_bytes(path.read_bytes())
    before = db_state(engine)
    barrier = threading.Barrier(2)
    results: list[object] = []

    def run(p: Path) -> None:
        barrier.wait()
        try:
            results.append(ingest_file(engine, settings, p, sensor="drone", captured_at=CAPTURED,
                                       limits=replace(Limits(), district=DISTRICT)))
        except DuplicateScene as exc:
            results.append(exc)

    threads = [threading.Thread(target=run, args=(p,)) for p in (path, copy)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    dups = [r for r in results if isinstance(r, DuplicateScene)]
    assert len(results) == 2 and len(dups) == 1
    assert db_state(engine)["scenes"] == before["scenes"] + 1
    assert len([p for p in store_files(settings.data_dir) if p.parent.name != "tmp"]) == 1
