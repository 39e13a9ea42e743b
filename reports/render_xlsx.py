"""The report as XLSX (openpyxl): one sheet per table, numbers kept as numbers."""

from __future__ import annotations

import io
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from reports.build import Report
from reports.fmt import DASH
from reports.labels import translator
from reports.tables import Table

FORMATS = {"int": "#,##0", "area": "#,##0.00", "pct": "0.00%", "days": "0.0", "score": "0.00"}
_HEAD = PatternFill("solid", fgColor="F3F4F6")
_TOTAL = PatternFill("solid", fgColor="FEF2F2")


def render(report: Report, tables: list[Table]) -> bytes:
    """XLSX bytes: a cover sheet, then one sheet per table.

    Percentages are stored as fractions formatted ``0.00%`` (92.03 % is 0.9203); an
    undefined value (empty denominator) is the text "—".
    """
    t = translator(report.lang)
    wb = Workbook()
    cover = wb.active
    assert cover is not None
    cover.title = t("summary")
    en = report.lang == "en"
    cover.append([t("monthly_title" if report.kind == "month" else "weekly_title")])
    cover["A1"].font = Font(bold=True, size=14)
    cover.append([report.scope.district_name, report.period.title_en() if en else report.period.title_zh()])
    cover.append([t("district_index"), report.district.value if report.district.value is not None else DASH])
    cover.append([t("generated"), report.generated_at.strftime("%Y-%m-%d %H:%M")])
    cover.append([t("note_dash")])
    cover.column_dimensions["A"].width = 28
    for table in tables:
        _sheet(wb, table)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _sheet(wb: Workbook, table: Table) -> None:
    ws = wb.create_sheet(title=table.key)
    ws.append([table.title])
    ws["A1"].font = Font(bold=True, size=12)
    ws.append([c.header for c in table.columns])
    for cell in ws[2]:
        cell.font = Font(bold=True)
        cell.fill = _HEAD
        cell.alignment = Alignment(wrap_text=True, horizontal="center")
    for i, row in enumerate(table.rows):
        values: list[Any] = []
        for value, col in zip(row, table.columns, strict=True):
            if col.kind == "text":
                values.append("" if value is None else str(value))
            else:
                values.append(DASH if value is None else value)
        ws.append(values)
        r = ws.max_row
        for j, col in enumerate(table.columns, start=1):
            c = ws.cell(row=r, column=j)
            if col.kind in FORMATS and not isinstance(c.value, str):
                c.number_format = FORMATS[col.kind]
            if table.total_last and i == len(table.rows) - 1:
                c.font = Font(bold=True)
                c.fill = _TOTAL
    for j, col in enumerate(table.columns, start=1):
        ws.column_dimensions[get_column_letter(j)].width = 22 if col.kind == "text" else 13
    ws.freeze_panes = "B3"
