"""The Reports pages, downloads and cockpit, through the real app (test client and Chromium)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy.engine import Engine

from reports import periods
from tests.browser import browser, login, new_page  # noqa: F401
from tests.builders import unique
from tests.report_states import add_district, bj, complaints, item, move
from tests.webapp import Client, LiveServer, World, world  # noqa: F401


@dataclass
class ReportWorld:
    district: str
    streets: list[str]
    street_ids: list[int]


@pytest.fixture(scope="module")
def rworld(engine: Engine) -> ReportWorld:
    """A committed district with March 2025 data and items found this month."""
    from geo.db import session_factory

    with session_factory(engine).begin() as s:
        district, streets = add_district(s, streets=4, lon=121.60, lat=31.00)
        complaints(s, streets[0], bj(2025, 3, 5, 10), true_resolved=462, true_open=40, untrue=411, explained=149)
        for i, st in enumerate(streets):
            v = item(s, st, bj(2025, 3, 3 + i, 10))
            move(s, v.id, ("confirmed", bj(2025, 3, 4 + i, 9)), ("demolished", bj(2025, 3, 10 + i, 9)))
        return ReportWorld(district.name, [st.name for st in streets], [st.id for st in streets])


@pytest.fixture(scope="module")
def app(engine: Engine, world: World) -> object:  # noqa: F811
    """The app, with the reports blueprint registered whether or not the factory lists it yet."""
    from webmap.factory import create_app
    from webmap.reports_views import reports_bp

    app = create_app({"ENGINE": engine, "SECRET_KEY": "test-" + unique("key"), "DATA_DIR": str(world.data_dir)})
    if "reports" not in app.blueprints:
        app.register_blueprint(reports_bp)
    return app


@pytest.fixture(scope="module")
def live(app: object) -> Iterator[str]:
    server = LiveServer(app).start()
    try:
        yield server.url
    finally:
        server.stop()


def test_viewer_reads_the_month_page_and_downloads_both_files(app, world: World, rworld: ReportWorld) -> None:  # noqa: F811
    c = Client(app, world.users["viewer"])
    page = c.get(f"/reports/monthly/2025-03?district={rworld.district}")
    assert page.status_code == 200
    assert "新增违建动态监测指数月报" in page.text and "92.03 %" in page.text and rworld.streets[3] in page.text
    pdf = c.get(f"/reports/monthly/2025-03/report.pdf?district={rworld.district}")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    assert "attachment" in pdf.headers["Content-Disposition"]
    xlsx = c.get(f"/reports/monthly/2025-03/report.xlsx?district={rworld.district}")
    assert xlsx.status_code == 200
    ws = load_workbook(io.BytesIO(xlsx.data))["found"]
    rows = {r[0]: r for r in ws.iter_rows(min_row=3, values_only=True)}
    assert rows[rworld.district][1] == 4  # four new items found in March, a number
    weekly = c.get(f"/reports/weekly/2025-W11?district={rworld.district}")
    assert weekly.status_code == 200 and "周报" in weekly.text


def test_bad_requests_get_clear_errors(app, world: World, rworld: ReportWorld) -> None:  # noqa: F811
    c = Client(app, world.users["street"])
    bad = c.get(f"/reports/monthly/2025-13?district={rworld.district}")
    assert bad.status_code == 400 and "2025-13" in bad.text
    missing = c.get("/reports/monthly/2025-03?district=no-such-district")
    assert missing.status_code == 404 and "no-such-district" in missing.text
    assert c.get(f"/reports/monthly/2025-03/report.doc?district={rworld.district}").status_code == 400
    anonymous = Client(app, None).get("/reports/monthly/2025-03")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]


def test_cockpit_is_live(app, world: World, rworld: ReportWorld, engine: Engine) -> None:  # noqa: F811
    from geo.db import session_factory
    from geo.models import AdminUnit

    c = Client(app, world.users["office"])
    url = f"/reports/cockpit?district={rworld.district}"
    first = c.get(url)
    assert first.status_code == 200 and 'http-equiv="refresh"' in first.text
    assert all(name in first.text for name in rworld.streets)
    this_month = periods.containing(periods.now_beijing())
    assert this_month.title_zh() in first.text

    def found_cell(text: str) -> str:
        return text.split('id="kpi-found">', 1)[1].split("<", 1)[0]

    before = int(found_cell(first.text).replace(",", ""))
    with session_factory(engine).begin() as s:
        st = s.get(AdminUnit, rworld.street_ids[1])
        item(s, st, periods.now_beijing() - timedelta(minutes=5))
    after = int(found_cell(c.get(url).text).replace(",", ""))
    assert after == before + 1


def test_viewer_downloads_the_pdf_in_chromium(browser, live: str, world: World, rworld: ReportWorld,  # noqa: F811
                                              tmp_path) -> None:
    page, _rec = new_page(browser, live)
    login(page, world.users["viewer"])
    page.goto(f"/reports/?district={rworld.district}")
    page.fill("#month-input", "2025-03")
    page.click("#pick-month-go")
    page.wait_for_selector(".wj-report h1")
    assert "92.03 %" in page.inner_text(".wj-report")
    with page.expect_download(timeout=60000) as info:
        page.click("#download-pdf")
    target = tmp_path / "downloaded.pdf"
    info.value.save_as(target)
    assert target.read_bytes().startswith(b"%PDF") and target.stat().st_size > 10_000
    assert page.inner_text("#download-status")  # the page says the file is being prepared
    page.context.close()
