"""The three report files: PDF text, fonts and layout (poppler), XLSX numbers, reproducibility."""

from __future__ import annotations

import re
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from PIL import Image
from sqlalchemy import text as sql

from reports import build, periods, scope
from reports import config as rconfig
from reports.generate import FILES, generate
from reports.scope import TOTAL
from reports.tables import build_tables
from tests.report_states import add_district, bj, close_by, complaints, item, move, sortie, target


def _march_state(session):
    district, streets = add_district(session, streets=5)
    target(session, district, 2025, 120_000, permit_area=36_772)
    for i, st in enumerate(streets):
        for k in range(i + 1):
            v = item(session, st, bj(2025, 3, 2 + k, 10), source=("imagery", "patrol", "complaint")[k % 3],
                     area=40.0 + k, offset=0.001 + 0.002 * k)
            move(session, v.id, ("confirmed", bj(2025, 3, 3 + k, 9)))
            if k % 2 == 0:
                move(session, v.id, ("demolished", bj(2025, 3, 10 + k, 9)), ("closed", bj(2025, 3, 12 + k, 9)))
        close_by(session, st, "demolished", 20_000 + 1000 * i, bj(2025, 3, 15, 9))
        sortie(session, st, f"飞手{i}", bj(2025, 3, 5, 9))
    complaints(session, streets[0], bj(2025, 3, 5, 10), true_resolved=462, true_open=40, untrue=411, explained=149)
    close_by(session, streets[1], "permit_granted", 12_580, bj(2025, 3, 16, 9))  # 110,000 + 370 + 12,580
    return district, streets


def _text(pdf: Path, *opts: str) -> str:
    return subprocess.run(["pdftotext", "-layout", *opts, str(pdf), "-"], check=True, capture_output=True,
                          text=True).stdout


def test_monthly_files_pdf_fonts_layout_and_xlsx_numbers(session, tmp_path: Path) -> None:
    district, streets = _march_state(session)
    out = generate(session, periods.month("2025-03"), tmp_path, rconfig.load(), district=district.name)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(FILES)  # no temporary leftovers

    html = out.html.read_text(encoding="utf-8")
    assert "新增违建动态监测指数月报" in html and "92.03 %" in html and "data:image/png;base64," in html

    text = _text(out.pdf)
    for words in ("新增违建动态监测指数月报", "主动发现率", "依法处置率", "92.03 %", "优秀", district.name):
        assert words in text, words
    assert "102.46 %" in text and "122,950.00" in text  # against the 120,000 m² target
    # tables not cut off: the last row (district total) of the last table follows its heading,
    # and the rightmost headers of the widest tables are printed
    trend_part = text.split("七、近期指数走势", 1)[1]
    assert district.name in trend_part
    assert "通报" in text and "25-03" in trend_part

    fonts = subprocess.run(["pdffonts", str(out.pdf)], check=True, capture_output=True, text=True).stdout
    rows = [ln.split() for ln in fonts.splitlines()[2:] if ln.strip()]
    # every glyph comes from the embedded CJK font: no fallback font, no missing-glyph boxes
    assert rows and all("Noto-Sans-CJK" in r[0] and r[-5:-2] == ["yes", "yes", "yes"] for r in rows), fonts

    # every word lies inside the A4 page (nothing drawn past the right or bottom edge)
    bbox = subprocess.run(["pdftotext", "-bbox", str(out.pdf), "-"], check=True, capture_output=True,
                          text=True).stdout
    pages = re.findall(r'<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>', bbox, re.S)
    assert pages and all(abs(float(w) - 595.3) < 1 and abs(float(h) - 841.9) < 1 for w, h, _ in pages)
    for w, h, body in pages:
        for xmax, ymax in re.findall(r'xMax="([\d.]+)" yMax="([\d.]+)"', body):
            assert float(xmax) <= float(w) and float(ymax) <= float(h)

    # pages as images: every page rendered with ink on it
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(out.pdf), str(tmp_path / "page")], check=True)
    shots = sorted(tmp_path.glob("page*.png"))
    assert len(shots) == len(pages) >= 2
    for shot in shots:
        lo, hi = Image.open(shot).convert("L").getextrema()
        assert lo < 100 and hi > 200

    wb = load_workbook(out.xlsx)
    assert {"found", "disposal", "closure", "annotation", "complaints", "ranking", "trend"} <= set(wb.sheetnames)
    ws = wb["complaints"]
    first = {ws.cell(row=2, column=j).value: j for j in range(1, ws.max_column + 1)}
    row = next(r for r in range(3, ws.max_row + 1) if ws.cell(row=r, column=1).value == streets[0].name)
    cell = ws.cell(row=row, column=first["办结率"])
    assert cell.data_type == "n" and abs(cell.value - 462 / 502) < 1e-12 and cell.number_format == "0.00%"
    assert ws.cell(row=row, column=first["属实"]).value == 502
    closure = wb["closure"]
    total_row = [c.value for c in closure[closure.max_row]]
    assert isinstance(total_row[5], (int, float)) and total_row[5] == pytest.approx(122_950)


def test_march_is_the_same_after_april_happens(session) -> None:
    district, streets = _march_state(session)
    sc = scope.resolve(session, district.name)
    cfg = rconfig.load()
    march = periods.month("2025-03")

    def snapshot():
        rep = build.build(session, march, sc, cfg)
        return ([f.as_dict() for f in rep.units], [t.rows for t in build_tables(rep)],
                [(m.code, m.status) for m in rep.map_items])

    before = snapshot()
    # April: March's open items move on, new items appear, complaints get resolved
    for st in streets:
        v = item(session, st, bj(2025, 4, 1, 0, 0))
        move(session, v.id, ("dismissed", bj(2025, 4, 2, 9)))
    open_items = session.execute(
        sql("SELECT id FROM violations WHERE status = 'confirmed' AND street_id = ANY(:s)"),
        {"s": [s.id for s in streets]}).scalars().all()
    for vid in open_items:
        move(session, vid, ("demolished", bj(2025, 4, 3, 9)), ("closed", bj(2025, 4, 4, 9)))
    complaints(session, streets[0], bj(2025, 4, 1, 8), true_resolved=3)
    session.execute(sql(
        "UPDATE complaints SET resolved_at = :t WHERE verdict = 'true' AND resolved_at IS NULL AND street_id = :s"),
        {"t": bj(2025, 4, 9, 9), "s": streets[0].id})
    sortie(session, streets[0], "飞手X", bj(2025, 4, 1, 1))
    after = snapshot()
    assert after == before
    april = build.build(session, periods.month("2025-04"), sc, cfg, with_map=False)
    assert april.figures[TOTAL].closed_in_period == len(open_items) > 0


def test_empty_month_report_prints_dashes(session, tmp_path: Path) -> None:
    district, _ = add_district(session, streets=2)
    out = generate(session, periods.month("2025-06"), tmp_path, rconfig.load(), district=district.name)
    text = _text(out.pdf)
    assert "—" in text and "0.00 %" not in text
    values = [ln for ln in text.split("全区监测指数", 1)[0].splitlines() if ln.strip()][-1]
    assert values.split()[:2] == ["—", "—"]  # no index and no rating
    found_part = text.split("一、新增违建发现情况", 1)[1]
    found_row = next(ln for ln in found_part.splitlines() if ln.strip().startswith(district.name))
    assert found_row.split()[-1] == "—"  # the district's proactive discovery rate


def test_weekly_brief(session, tmp_path: Path) -> None:
    district, (st, _) = add_district(session, streets=2)
    v = item(session, st, bj(2025, 3, 18, 10))
    move(session, v.id, ("confirmed", bj(2025, 3, 19, 9)))
    item(session, st, bj(2025, 3, 24, 0, 0) - timedelta(minutes=1))
    out = generate(session, periods.week("2025-W12"), tmp_path, rconfig.load(), district=district.name)
    text = _text(out.pdf)
    assert "新增违建动态监测周报" in text and "2025年第12周" in text
    ws = load_workbook(out.xlsx)["found"]
    row = next(r for r in ws.iter_rows(min_row=3, values_only=True) if r[0] == st.name)
    assert row[1] == 2
