"""Produce a report's three files in a folder: index.html, report.pdf, report.xlsx.

Each file is written to a temporary name in the same folder and renamed when complete,
so a reader never sees half a file and a failure leaves the previous files intact.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from reports import build, render_html, render_pdf, render_xlsx
from reports import scope as rscope
from reports.config import IndexConfig
from reports.errors import RenderError
from reports.periods import Period
from reports.tables import build_tables

FILES = ("index.html", "report.pdf", "report.xlsx")
#: Steps reported to ``progress``.
STEPS = ("figures", "charts", "html", "pdf", "xlsx")


@dataclass(frozen=True)
class Outputs:
    """Paths of the files written."""

    html: Path
    pdf: Path
    xlsx: Path


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename.

    Raises:
        RenderError: the folder is not writable (naming it).
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as exc:
        raise RenderError(f"{path.parent}: cannot write there: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class Rendered:
    """The three documents in memory."""

    html: str
    pdf: bytes
    xlsx: bytes


def render_all(report: build.Report, progress: Callable[[str], None] | None = None) -> Rendered:
    """Render HTML, PDF and XLSX of a built report."""
    step = progress or (lambda _s: None)
    tables = build_tables(report)
    pngs = render_html.images(report)
    step("charts")
    html = render_html.render(report, pngs, tables)
    step("html")
    pdf = render_pdf.render(html)
    step("pdf")
    xlsx = render_xlsx.render(report, tables)
    step("xlsx")
    return Rendered(html, pdf, xlsx)


def generate(session: Session, period: Period, out_dir: Path, config: IndexConfig, *,
             district: str | None = None, lang: str = "zh",
             progress: Callable[[str], None] | None = None) -> Outputs:
    """Compute the report of ``period`` and write its three files into ``out_dir``.

    Args:
        district: name or code of the district (None: the only one).
        progress: called with each finished step of :data:`STEPS`.

    Raises:
        UnitNotFound: no such district.
        RenderError: a file could not be produced or written.
    """
    step = progress or (lambda _s: None)
    sc = rscope.resolve(session, district)
    report = build.build(session, period, sc, config, lang=lang)
    step("figures")
    rendered = render_all(report, step)
    out = Outputs(out_dir / FILES[0], out_dir / FILES[1], out_dir / FILES[2])
    write_atomic(out.html, rendered.html.encode("utf-8"))
    write_atomic(out.pdf, rendered.pdf)
    write_atomic(out.xlsx, rendered.xlsx)
    return out


def run(sessions: Callable[[], Session], label: str, kind: str, out_dir: Path, *, district: str | None = None,
        config_path: str | None = None, data_dir: Path | None = None, lang: str = "zh",
        progress: Callable[[str], None] | None = None) -> Outputs:
    """The ``report monthly|weekly`` command: parse the period, load the configuration, generate.

    Args:
        sessions: a session factory (one read-only transaction is used).
        label: ``2025-03`` (month) or ``2025-W12`` (week).
        kind: ``month`` or ``week``.
        config_path: an index configuration file; None means ``$DATA_DIR/index_config.toml``
            when present, else the packaged default.

    Raises:
        PeriodError, ReportConfigError, UnitNotFound, RenderError: with the reason.
    """
    from reports import config as rconfig
    from reports import periods

    period = periods.month(label) if kind == "month" else periods.week(label)
    cfg = rconfig.load(config_path, data_dir)
    session = sessions()
    try:
        with session.begin():
            session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
            return generate(session, period, out_dir, cfg, district=district, lang=lang, progress=progress)
    finally:
        session.close()
