"""The upload page in Chromium: a drone operator chooses GeoTIFFs, sees progress, resumes, sees the status."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from geo.config import Settings
from tests.browser import browser, foreign_requests, login, new_page, shot  # noqa: F401
from tests.imagery_files import write_geotiff
from tests.webapp import LiveServer, World, build_world

HOME = (121.372, 31.215)  # inside street A of the test world


@pytest.fixture(scope="module")
def bengine() -> Iterator[Engine]:
    """A database of its own: the worker run here must see only this module's jobs."""
    from geo.testdb import throwaway_database

    with throwaway_database(prefix="wj_upload_ui") as eng:
        yield eng


@pytest.fixture(scope="module")
def bworld(bengine: Engine, tmp_path_factory: pytest.TempPathFactory) -> World:
    from geo.db import session_factory

    return build_world(session_factory(bengine), tmp_path_factory.mktemp("upload-ui"), queue_size=0)


@pytest.fixture(scope="module")
def live(bengine: Engine, bworld: World) -> Iterator[LiveServer]:
    from tests.test_imagery_web import make_app

    # The district rule is tested on ingest and the tus API; here the page itself is under test.
    server = LiveServer(make_app(bengine, bworld.data_dir, check_district=False)).start()
    try:
        yield server
    finally:
        server.stop()


def _choose(page: Any, path: Path) -> None:
    page.set_input_files("#files", str(path))


def _drop(page: Any, path: Path) -> None:
    """Drop a file on the drop zone the way a browser does (a DataTransfer with a File)."""
    data = list(path.read_bytes())
    page.evaluate("""([name, bytes]) => {
        const dt = new DataTransfer();
        dt.items.add(new File([new Uint8Array(bytes)], name, {type: "image/tiff", lastModified: 1700000000000}));
        document.getElementById("drop").dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true}));
    }""", [path.name, data])


def _wait(page: Any, locator: Any, name: str) -> None:
    """Wait for ``locator``; on time-out keep a screenshot and the rows' text for the report."""
    try:
        locator.wait_for(timeout=240_000)
    except Exception:
        shot(page, name)
        raise AssertionError(f"gave up waiting; rows: {page.locator('#queue').inner_text()}") from None


def test_drone_operator_uploads_and_sees_status(browser: Any, live: LiveServer, bworld: World,  # noqa: F811
                                                bengine: Engine, tmp_path: Path) -> None:
    files = [write_geotiff(tmp_path / f"真如镇_{i}.tif", 512, 512, lon=HOME[0] + i * 0.003, lat=HOME[1], seed=200 + i)
             for i in range(2)]
    page, rec = new_page(browser, live.url)
    login(page, bworld.users["drone"])
    page.goto("/imagery/upload")
    page.fill("#pilot", "钱飞手")
    page.fill("#drone", "M300 RTK")
    page.fill("#captured", "2025-03-14T10:20")
    page.fill("#task", "真如镇屋顶巡查")
    page.fill("#sortie", "UI-S1")
    _choose(page, files[0])
    _drop(page, files[1])
    rows = page.locator("tr.upload-row")
    for i, f in enumerate(files):
        row = rows.nth(i)
        assert row.locator(".name").inner_text() == f.name
        _wait(page, row.locator(".job-state").first, "imagery-upload-stuck")
        assert row.locator("progress").first.get_attribute("value") == "100"
        assert row.locator(".job-state").get_attribute("data-state") == "queued"
    shot(page, "imagery-upload-stored")
    with bengine.connect() as conn:
        got = conn.execute(text("SELECT s.original_name, o.pilot, o.drone, o.task FROM scenes s "
                                "JOIN sorties o ON o.id = s.sortie_id WHERE o.code = 'UI-S1' ORDER BY s.id")).all()
    assert [tuple(r) for r in got] == [(f.name, "钱飞手", "M300 RTK", "真如镇屋顶巡查") for f in files]
    # the worker runs the detection jobs; the page follows them to the end
    import threading

    from geo.queue import run_worker

    # its own thread: Playwright's sync API keeps an event loop running in this one
    worker = threading.Thread(target=run_worker, args=(bengine, Settings(data_dir=bworld.data_dir)),
                              kwargs={"once": True})
    worker.start()
    worker.join(300)
    assert not worker.is_alive()
    for i in range(2):
        rows.nth(i).locator('.job-state[data-state="done"]').wait_for(timeout=60_000)
    shot(page, "imagery-upload-done")
    assert foreign_requests(rec, live.url) == []
    assert not [e for e in rec.errors if "favicon" not in e]


def test_interrupted_upload_resumes(browser: Any, live: LiveServer, bworld: World,  # noqa: F811
                                    bengine: Engine, tmp_path: Path) -> None:
    path = write_geotiff(tmp_path / "断点.tif", 768, 768, lon=HOME[0], lat=HOME[1] - 0.003, seed=300)
    size = path.stat().st_size
    page, _rec = new_page(browser, live.url)
    login(page, bworld.users["drone"])
    page.goto("/imagery/upload")
    page.evaluate("window.WJ_UPLOAD.chunkSize = 128 * 1024")
    patches = {"n": 0}

    def cut_after_two(route: Any) -> None:
        if route.request.method == "PATCH":
            patches["n"] += 1
            if patches["n"] > 2:
                route.abort("connectionreset")
                return
        route.continue_()

    page.route("**/api/uploads/*", cut_after_two)
    _choose(page, path)
    page.wait_for_function("() => document.querySelector('tr.upload-row .up-state').textContent.length > 0 && "
                           "parseInt(document.querySelector('tr.upload-row progress').value) > 0")
    page.wait_for_timeout(1500)  # the network is down: the page retries
    page.unroute("**/api/uploads/*")
    page.reload()  # the operator closes the page mid-upload and comes back
    page.evaluate("window.WJ_UPLOAD.chunkSize = 128 * 1024")
    _choose(page, path)
    row = page.locator("tr.upload-row").first
    _wait(page, row.locator(".job-state").first, "imagery-resume-stuck")
    resumed = int(row.get_attribute("data-resumed-from") or 0)
    assert resumed == 2 * 128 * 1024  # went on after the two chunks that got through
    assert row.locator("progress").first.get_attribute("value") == "100"
    shot(page, "imagery-upload-resumed")
    with bengine.connect() as conn:
        size_db = conn.execute(text("SELECT size_bytes FROM scenes WHERE original_name = '断点.tif'")).scalar()
    assert size_db == size


def test_viewer_cannot_open_upload_page(browser: Any, live: LiveServer, bworld: World) -> None:  # noqa: F811
    page, _rec = new_page(browser, live.url)
    login(page, bworld.users["viewer"])
    resp = page.goto("/imagery/upload")
    assert resp is not None and resp.status == 403
