"""The battle map (挂图作战) built with Folium, with every asset served from our own static folder.

Folium writes the Leaflet map and the scale bar; our own
:class:`BattleMapLayers` element adds the vector-tile layers, layer control, legend,
filters, search, heat map, local-CRS coordinates, the fitted view and the before/after swipe
(``static/js/battlemap.js``). Folium's default links to CDNs are replaced by links to
``/static``, so the page works on an intranet with no internet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import folium
from branca.element import MacroElement
from folium.elements import JSCSSMixin
from jinja2 import Template


@dataclass(frozen=True)
class RenderedMap:
    """The three parts of a rendered Folium figure, to embed in our own page."""

    header: str
    html: str
    script: str
    name: str


class BattleMapLayers(JSCSSMixin, MacroElement):
    """Calls ``WJ.battleMap(map, options)`` once the Folium map exists."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        WJ.battleMap({{ this._parent.get_name() }}, {{ this.options|tojson }});
        {% endmacro %}
        """
    )

    def __init__(self, options: dict[str, Any], js: list[tuple[str, str]], css: list[tuple[str, str]]) -> None:
        super().__init__()
        self._name = "BattleMapLayers"
        self.options = options
        self.default_js = list(js)
        self.default_css = list(css)


def build(*, bounds: tuple[float, float, float, float] | None, static: dict[str, str],
          options: dict[str, Any], center: tuple[float, float] = (31.22, 121.40)) -> RenderedMap:
    """Build the map and render it into header, body and script.

    Args:
        bounds: (west, south, east, north) in degrees to fit, or None.
        static: URLs of our own assets: ``leaflet_js``, ``leaflet_css``, ``vectorgrid_js``,
            ``heat_js``, ``battlemap_js``, ``battlemap_css``.
        options: passed to ``WJ.battleMap`` (tile URLs, colours, labels, ...).
        center: (lat, lon) when there are no bounds.
    """
    if bounds is not None:
        west, south, east, north = bounds
        center = ((south + north) / 2, (west + east) / 2)
        # Fitted by battlemap.js without animation, unless the page asks for a place (?lat=&lon=&z=):
        # an animated fit would finish after, and undo, that jump.
        options = {**options, "bounds": [[south, west], [north, east]]}
    fmap = folium.Map(location=list(center), zoom_start=13, tiles=None, control_scale=True,
                      min_zoom=8, max_zoom=21, prefer_canvas=True)
    # Replace Folium's CDN links (leaflet, jquery, bootstrap, awesome-markers) with our own.
    fmap.default_js = [("leaflet", static["leaflet_js"])]
    fmap.default_css = [("leaflet_css", static["leaflet_css"])]
    BattleMapLayers(
        options,
        js=[("vectorgrid", static["vectorgrid_js"]), ("leaflet_heat", static["heat_js"]),
            ("battlemap", static["battlemap_js"])],
        css=[("battlemap_css", static["battlemap_css"])],
    ).add_to(fmap)
    root = fmap.get_root()
    root.render()
    return RenderedMap(
        header=root.header.render(),  # type: ignore[attr-defined]
        html=root.html.render(),  # type: ignore[attr-defined]
        script=root.script.render(),  # type: ignore[attr-defined]
        name=fmap.get_name(),
    )
