"""Charts of the report (matplotlib, Chinese labels), returned as PNG bytes.

Figures are built with the object API (no pyplot state), so this is safe in a web server.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from reports.fonts import cjk_family
from reports.index import UnitIndex
from reports.indicators import Figures
from reports.labels import translator

RATING_COLOURS = {"excellent": "#15803d", "good": "#65a30d", "fair": "#d97706", "poor": "#dc2626", None: "#9ca3af"}
DPI = 110


@contextmanager
def cjk_style() -> Iterator[None]:
    """matplotlib settings with the CJK font (for the duration of one chart)."""
    with matplotlib.rc_context({"font.family": [cjk_family(), "DejaVu Sans"], "axes.unicode_minus": False,
                                "font.size": 9}):
        yield


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    return buf.getvalue()


def ranking_chart(ranking: Sequence[UnitIndex], lang: str = "zh") -> bytes:
    """Horizontal bars of the streets' index, coloured by rating, best on top."""
    t = translator(lang)
    with cjk_style():
        rows = list(reversed(ranking))
        fig = Figure(figsize=(7.0, max(2.0, 0.32 * len(rows) + 1.0)))
        ax = fig.add_subplot()
        vals = [r.value or 0.0 for r in rows]
        ax.barh([r.name for r in rows], vals, color=[RATING_COLOURS[r.rating] for r in rows])
        for i, r in enumerate(rows):
            ax.text((r.value or 0.0) + 1, i, "—" if r.value is None else f"{r.value:.2f}", va="center", fontsize=8)
        ax.set_xlim(0, 110)
        ax.set_title(t("chart_ranking"))
        ax.spines[["top", "right"]].set_visible(False)
        return _png(fig)


def trend_chart(labels: Sequence[str], series: dict[str, list[float | None]], lang: str = "zh") -> bytes:
    """One line per street: the index over the trailing periods (gaps where undefined)."""
    t = translator(lang)
    with cjk_style():
        fig = Figure(figsize=(7.0, 3.4))
        ax = fig.add_subplot()
        x = list(range(len(labels)))
        for name, vals in series.items():
            ys = [float("nan") if v is None else v for v in vals]
            ax.plot(x, ys, marker="o", markersize=3, linewidth=1.2, label=name)
        ax.set_xticks(x, labels, rotation=45, fontsize=7)
        ax.set_ylim(0, 105)
        ax.set_title(t("chart_trend"))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)
        return _png(fig)


def found_removed_chart(units: Sequence[Figures], lang: str = "zh") -> bytes:
    """Grouped bars per street: new items found vs new items removed in the period."""
    t = translator(lang)
    with cjk_style():
        fig = Figure(figsize=(7.0, 2.6))
        ax = fig.add_subplot()
        x = list(range(len(units)))
        ax.bar([i - 0.2 for i in x], [u.found_total for u in units], width=0.4, label=t("found"), color="#f59e0b")
        ax.bar([i + 0.2 for i in x], [u.removed_new for u in units], width=0.4, label=t("removed"), color="#16a34a")
        ax.set_xticks(x, [u.name for u in units], rotation=30, ha="right", fontsize=7)
        ax.set_title(t("chart_found_removed"))
        ax.legend(fontsize=8, frameon=False)
        ax.spines[["top", "right"]].set_visible(False)
        return _png(fig)
