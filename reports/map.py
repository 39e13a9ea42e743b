"""A static map of the period's new items coloured by their status at the period's end."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from geo.models import Status
from geo.workflow import COLOURS
from reports.build import MapItem
from reports.charts import _png, cjk_style
from reports.labels import status_label, translator


def _rings(geom: BaseGeometry) -> list[list[tuple[float, float]]]:
    polys = list(geom.geoms) if isinstance(geom, MultiPolygon) else [geom] if isinstance(geom, Polygon) else []
    return [[(float(x), float(y)) for x, y, *_ in p.exterior.coords] for p in polys]


def map_png(boundaries: Sequence[tuple[str, BaseGeometry]], items: Sequence[MapItem], title: str,
            lang: str = "zh") -> bytes:
    """Street outlines with names, and one dot per item (size by area, colour by status)."""
    t = translator(lang)
    with cjk_style():
        fig = Figure(figsize=(7.0, 5.2))
        ax = fig.add_subplot()
        for name, geom in boundaries:
            for ring in _rings(geom):
                xs, ys = zip(*ring, strict=True)
                ax.plot(xs, ys, color="#475569", linewidth=0.8)
            c = geom.representative_point()
            ax.text(c.x, c.y, name, fontsize=7, color="#334155", ha="center", va="center", alpha=0.8)
        by_status: dict[str, list[MapItem]] = {}
        for it in items:
            by_status.setdefault(it.status, []).append(it)
        for status in Status:
            group = by_status.get(status.value)
            if not group:
                continue
            ax.scatter([i.lon for i in group], [i.lat for i in group],
                       s=[min(60.0, 6.0 + i.area_m2 / 20.0) for i in group], c=COLOURS[status],
                       label=f"{status_label(status.value, lang)} ({len(group)})", alpha=0.85,
                       edgecolors="white", linewidths=0.3)
        if items:
            ax.legend(fontsize=7, loc="upper right", frameon=True)
        else:
            ax.text(0.5, 0.5, t("no_items"), transform=ax.transAxes, ha="center", va="center", fontsize=11)
        ax.set_aspect(1 / 0.857)  # cos(31°): metres-true at Shanghai's latitude
        ax.set_title(title)
        ax.tick_params(labelsize=6)
        return _png(fig)
