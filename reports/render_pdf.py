"""The report as an A4 PDF with WeasyPrint (the CJK font is embedded as a subset)."""

from __future__ import annotations

from reports.errors import RenderError
from reports.fonts import cjk_family


def render(html: str) -> bytes:
    """PDF bytes of the standalone report HTML (see :func:`reports.render_html.render`).

    Raises:
        RenderError: no CJK font is installed, or WeasyPrint failed.
    """
    cjk_family()  # fail clearly before printing boxes instead of Chinese
    from weasyprint import HTML

    try:
        out = HTML(string=html).write_pdf()
    except Exception as exc:  # WeasyPrint raises many kinds; name the step
        raise RenderError(f"PDF rendering failed: {exc}") from exc
    if out is None:
        raise RenderError("PDF rendering produced nothing")
    return bytes(out)
