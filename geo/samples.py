"""Synthetic but realistic drone orthophotos of the demo district, with their ground truth.

The generator builds a *scene* per area (old public-housing estates 老公房 with ground-floor
courtyards 天井, villa compounds, factory sheds, roads, trees, cars) as shapely polygons in a
local metric frame (metres east/north of the area's centre in EPSG:4549), renders it once per
epoch under that epoch's sun, season and sensor, and resamples the render onto the epoch's
own grid (EPSG:4549 for the first epoch, EPSG:32651 for the second, with a deliberate sub-pixel
misregistration). Everything up to :func:`write_area` is a pure function of the seed; only
:func:`write_area` and :func:`generate` touch files.

Between the epochs there are real changes (listed as ground truth, each with the class the
platform should give it after matching against ``records.geojson``) and nuisances that are not
changes: illumination and season, shadow length and direction, cars, tree growth, misregistration.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import shapely
from pyproj import Transformer
from shapely import affinity
from shapely.geometry import Point, Polygon, box, mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

#: Demo district extent (lon/lat, Changning): west, south, east, north.
DISTRICT_BOUNDS = (121.36, 31.19, 121.44, 31.23)
METRIC_EPSG = 4549
RES = 0.2
DEFAULT_SEED = 2025
EXPECTED_CLASSES = ("new_suspect", "known_changed", "demolition_evidence", "permitted")
CHANGE_TYPES = ("rooftop", "courtyard", "shed", "pigeon_loft", "villa", "factory", "other")

Rgb = tuple[float, float, float]


# ----------------------------------------------------------------------------- specs
@dataclass(frozen=True)
class EpochSpec:
    """How one capture looks.

    Attributes:
        label: capture month as used in file names (``2024-09``).
        captured: ISO capture time with offset.
        epsg: CRS of the delivered file.
        sun_azimuth: degrees clockwise from north.
        sun_elevation: degrees above the horizon.
        season: ``summer`` (green lawns, leafy plane trees) or ``spring`` (straw lawns, bare trees).
        gain: multiplicative brightness per band (R, G, B).
        gamma: exponent applied to the normalised image.
        haze: additive offset per band, DN.
        shadow: fraction of direct light removed in shadows.
        blur: Gaussian sigma of the optics, pixels.
        noise: sensor noise sigma, DN.
        misregistration: whether to shift the content by a random 0.5–2 px.
    """

    label: str
    captured: str
    epsg: int
    sun_azimuth: float
    sun_elevation: float
    season: str
    gain: Rgb = (1.0, 1.0, 1.0)
    gamma: float = 1.0
    haze: Rgb = (0.0, 0.0, 0.0)
    shadow: float = 0.62
    blur: float = 0.7
    noise: float = 2.0
    misregistration: bool = False


@dataclass(frozen=True)
class AreaSpec:
    """One sample area: a square of ``size_m`` centred on (lon, lat).

    ``blocks`` names the four quadrants' contents (NW, NE, SW, SE) and ``wants`` the real
    changes each quadrant should host, as ``(type, expected_class)`` pairs.
    """

    name: str
    lon: float
    lat: float
    size_m: float = 300.0
    rotation: float = 0.0
    blocks: tuple[str, str, str, str] = ("lgf", "lgf", "villa", "factory")
    wants: tuple[tuple[tuple[str, str], ...], ...] = ((), (), (), ())


EPOCHS: tuple[EpochSpec, EpochSpec] = (
    EpochSpec(
        "2024-09", "2024-09-18T10:30:00+08:00", 4549, sun_azimuth=128.0, sun_elevation=52.0, season="summer",
    ),
    EpochSpec(
        "2025-03", "2025-03-14T14:40:00+08:00", 32651, sun_azimuth=232.0, sun_elevation=37.0, season="spring",
        gain=(0.86, 0.9, 1.02), gamma=1.12, haze=(10.0, 12.0, 18.0), shadow=0.5, blur=0.95, noise=3.0,
        misregistration=True,
    ),
)

AREAS: tuple[AreaSpec, AreaSpec] = (
    AreaSpec(
        "area1", 121.395, 31.205, rotation=9.0, blocks=("lgf", "lgf", "villa", "factory"),
        wants=(
            (("rooftop", "new_suspect"), ("courtyard", "demolition_evidence"), ("pigeon_loft", "known_changed"),
             ("other", "permitted")),
            (("courtyard", "new_suspect"), ("rooftop", "demolition_evidence"), ("rooftop", "known_changed")),
            (("villa", "new_suspect"), ("villa", "permitted")),
            (("shed", "new_suspect"), ("shed", "demolition_evidence"), ("factory", "permitted")),
        ),
    ),
    AreaSpec(
        "area2", 121.425, 31.220, rotation=-14.0, blocks=("factory", "villa", "lgf", "lgf"),
        wants=(
            (("shed", "new_suspect"), ("shed", "known_changed"), ("factory", "demolition_evidence")),
            (("villa", "known_changed"), ("villa", "demolition_evidence"), ("pigeon_loft", "new_suspect")),
            (("courtyard", "known_changed"), ("pigeon_loft", "demolition_evidence"), ("other", "permitted")),
            (("rooftop", "new_suspect"), ("courtyard", "new_suspect")),
        ),
    ),
)


# ----------------------------------------------------------------------------- scene model
@dataclass
class Obj:
    """A drawable thing in the local metric frame.

    Attributes:
        kind: ``ground`` | ``wall`` | ``building`` | ``car`` | ``tree`` | ``rubble``.
        geom: footprint polygon, metres.
        mat: material name (see ``_MATERIALS``), or an RGB triple for cars.
        height: top above ground, metres (0 for flat ground surfaces).
        roof: ``flat`` | ``hip`` | ``gable`` (buildings), shading model.
        axis: (cx, cy, length, width, angle°) of rectangular objects; (cx, cy, r, r, 0) for trees.
        epochs: epochs (1, 2) in which the object exists.
        z: draw layer (ground surfaces by z, then everything else by height).
    """

    kind: str
    geom: Polygon
    mat: Any
    height: float = 0.0
    roof: str = "flat"
    axis: tuple[float, float, float, float, float] | None = None
    epochs: frozenset[int] = frozenset({1, 2})
    z: int = 0


@dataclass
class Change:
    """One real change between the epochs (ground truth), in the local metric frame."""

    type: str
    change: str
    klass: str
    geom: Polygon
    note: str
    record: dict[str, Any] | None = None
    record_geom: Polygon | None = None


@dataclass
class Scene:
    """An area's content: objects, real changes and the epochs' shift."""

    spec: AreaSpec
    centre: tuple[float, float]  # EPSG:4549 metres
    extent: float  # half-width of the rendered canvas, metres
    objects: list[Obj] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    shift_px: tuple[float, float] = (0.0, 0.0)
    noise_seed: int = 0


_TO_METRIC = Transformer.from_crs(4326, METRIC_EPSG, always_xy=True)
_FROM_METRIC = Transformer.from_crs(METRIC_EPSG, 4326, always_xy=True)


def _rect(cx: float, cy: float, length: float, width: float, ang: float = 0.0) -> Polygon:
    p = box(cx - length / 2, cy - width / 2, cx + length / 2, cy + width / 2)
    return affinity.rotate(p, ang, origin=(cx, cy)) if ang else p


class _Builder:
    """Collects objects in a block's axis-aligned frame, then rotates them into the area frame."""

    def __init__(self, rng: np.random.Generator, rotation: float, limit: float = 1e9) -> None:
        self.rng = rng
        self.limit = limit
        self.rot = rotation
        self.objects: list[Obj] = []
        self.changes: list[Change] = []
        self.slots: list[tuple[float, float, float, str]] = []  # car/truck parking: cx, cy, ang, kind

    def _rot_pt(self, x: float, y: float) -> tuple[float, float]:
        a = math.radians(self.rot)
        return x * math.cos(a) - y * math.sin(a), x * math.sin(a) + y * math.cos(a)

    def inside(self, geom: Polygon) -> bool:
        """Whether a layout-frame polygon lies well inside the image square once rotated."""
        return bool(self.poly(geom).within(box(-self.limit, -self.limit, self.limit, self.limit)))

    def poly(self, geom: Polygon) -> Polygon:
        return affinity.rotate(geom, self.rot, origin=(0, 0)) if self.rot else geom

    def ground(self, geom: Polygon, mat: str, z: int, epochs: Iterable[int] = (1, 2)) -> Obj:
        o = Obj("ground", self.poly(geom), mat, z=z, epochs=frozenset(epochs))
        self.objects.append(o)
        return o

    def rect(
        self, kind: str, cx: float, cy: float, length: float, width: float, mat: Any, height: float,
        roof: str = "flat", ang: float = 0.0, epochs: Iterable[int] = (1, 2), z: int = 0,
    ) -> Obj:
        wx, wy = self._rot_pt(cx, cy)
        o = Obj(
            kind, self.poly(_rect(cx, cy, length, width, ang)), mat, height, roof,
            (wx, wy, length, width, ang + self.rot), frozenset(epochs), z,
        )
        self.objects.append(o)
        return o

    def tree(self, cx: float, cy: float, r: float, height: float, mat: str) -> None:
        growth = 1.0 + float(self.rng.uniform(0.06, 0.22))
        wx, wy = self._rot_pt(cx, cy)
        for ep, rr in ((1, r), (2, r * growth)):
            g = Point(wx, wy).buffer(rr * 1.12, quad_segs=8)
            self.objects.append(Obj("tree", g, mat, height + (rr - r) * 0.5, "dome", (wx, wy, rr, rr, 0.0),
                                    frozenset({ep}), 70))

    def slot(self, cx: float, cy: float, ang: float, kind: str = "car") -> None:
        wx, wy = self._rot_pt(cx, cy)
        self.slots.append((wx, wy, ang + self.rot, kind))

    def change(self, ctype: str, change: str, klass: str, geom: Polygon, note: str,
               record: dict[str, Any] | None = None, record_geom: Polygon | None = None) -> None:
        self.changes.append(Change(ctype, change, klass, self.poly(geom), note, record,
                                   self.poly(record_geom) if record_geom is not None else None))


_ROOF_MATS = ("steel_blue", "membrane_white", "roof_concrete", "steel_blue", "asphalt_roof")


def _record_for(klass: str, ctype: str, rng: np.random.Generator) -> dict[str, Any] | None:
    if klass == "permitted":
        return {"record": "permit"}
    if klass == "demolition_evidence":
        return {"record": "violation", "vtype": ctype, "kind": "stock",
                "status": str(rng.choice(["case_filed", "confirmed"]))}
    if klass == "known_changed":
        return {"record": "violation", "vtype": ctype, "kind": str(rng.choice(["stock", "new"])),
                "status": str(rng.choice(["confirmed", "annotated"]))}
    return None


def _change_pair(
    b: _Builder, ctype: str, klass: str, cx: float, cy: float, length: float, width: float, height: float,
    mat: str, note: str, *, roof: str = "flat", grow: tuple[float, float, float, float] | None = None,
    after_mat: str = "rubble", base: float | None = None,
) -> None:
    """Add a structure that appears, vanishes or grows, plus its ground-truth entry.

    ``grow`` is (cx, cy, length, width) of the added part for ``known_changed``; the original
    (cx, cy, length, width) then exists in both epochs. ``after_mat`` is what a demolished structure
    leaves, at height ``base`` (default: ground, or 2.9 m below its top for a roof scar).
    """
    rec = _record_for(klass, ctype, b.rng)
    core = _rect(cx, cy, length, width)
    if klass == "demolition_evidence":
        b.rect("building", cx, cy, length, width, mat, height, roof, epochs=(1,))
        if after_mat:
            if base is None:
                base = max(height - 2.9, 0.0) if after_mat == "scar" else 0.0
            b.rect("rubble", cx, cy, length + 0.4, width + 0.4, after_mat, base, epochs=(2,))
        b.change(ctype, "disappeared", klass, core, note, rec, core.buffer(1.0, join_style="mitre"))
        return
    if klass == "known_changed" and grow is not None:
        b.rect("building", cx, cy, length, width, mat, height, roof)
        gx, gy, gl, gw = grow
        part = _rect(gx, gy, gl, gw)
        b.rect("building", gx, gy, gl, gw, mat, height, roof, epochs=(2,))
        b.change(ctype, "appeared", klass, part, note, rec,
                 unary_union([core, part]).envelope.buffer(1.0, join_style="mitre"))
        return
    b.rect("building", cx, cy, length, width, mat, height, roof, epochs=(2,))
    b.change(ctype, "appeared", klass, core, note, rec,
             core.buffer(2.0, join_style="mitre") if klass == "permitted" else None)


# ----------------------------------------------------------------------------- blocks
def _block_lgf(b: _Builder, x0: float, y0: float, x1: float, y1: float, wants: Sequence[tuple[str, str]]) -> None:
    """Old public-housing estate: 6-storey slabs in rows, ground-floor yards on the south side."""
    rng = b.rng
    b.ground(box(x0, y0, x1, y1), "paving_estate", 1)
    slab_w, yard_d, pitch = 11.0, 3.5, 27.0
    n_rows = max(int((y1 - y0 - 6) // pitch), 1)
    width = x1 - x0
    per_row = max(1, min(3, int((width - 2) // 70)))
    slab_l = min(62.0, (width - 10 - (per_row - 1) * 8) / per_row)
    if slab_l < 12:
        return
    slabs: list[tuple[float, float, bool]] = []
    for r in range(n_rows):
        top = y1 - 4 - r * pitch
        cy = top - slab_w / 2
        lane_y = cy - slab_w / 2 - yard_d - 3.5
        b.ground(box(x0 + 2, lane_y - 3, x1 - 2, lane_y + 3), "concrete_yard", 3)
        green = box(x0 + 3, lane_y - 3 - 5.5, x1 - 3, lane_y - 3.5)
        if green.bounds[1] > y0 + 1:
            b.ground(green, "lawn", 2)
            for tx in np.arange(x0 + 7, x1 - 5, rng.uniform(7, 10)):
                if rng.random() < 0.75:
                    b.tree(float(tx + rng.uniform(-1, 1)), lane_y - 6.2 + rng.uniform(-0.7, 0.7),
                           rng.uniform(2.2, 3.6), rng.uniform(8, 13), str(rng.choice(["evergreen", "deciduous"])))
        for sx in np.arange(x0 + 8, x1 - 8, 5.4):
            if rng.random() < 0.8:
                b.slot(float(sx), lane_y + 2.0, 90.0)
        for k in range(per_row):
            cx = x0 + 5 + slab_l / 2 + k * (slab_l + 8)
            slabs.append((cx, cy, True))
    # roof types: flat concrete unless retro-fitted with a pitched tile roof (平改坡)
    n_flat_needed = sum(1 for t, _ in wants if t in ("rooftop", "pigeon_loft"))
    order = list(range(len(slabs)))
    rng.shuffle(order)
    flat = {i for j, i in enumerate(order) if j < n_flat_needed or rng.random() < 0.55}
    roof_sites: list[tuple[float, float]] = []
    yard_sites: list[tuple[float, float, set[int]]] = []  # (x of first yard's left edge, yard centre y, old roofs)
    for i, (cx, cy, _) in enumerate(slabs):
        if i in flat:
            b.rect("building", cx, cy, slab_l, slab_w, "roof_concrete", 18.0)
            b.rect("building", cx, cy, slab_l - 0.8, slab_w - 0.8, "roof_concrete_inner", 18.0)
            n_stairs = max(int(slab_l // 20), 1)
            for s in range(n_stairs):
                sx = cx - slab_l / 2 + (s + 0.5) * slab_l / n_stairs
                b.rect("building", sx, cy + 1.5, 3.0, 2.6, "roof_concrete", 20.6)
                if rng.random() < 0.6:
                    b.rect("building", sx + 3.5, cy - 2.5, 2.0, 2.0, "tank", 19.4)
            roof_sites.append((cx, cy))
        else:
            b.rect("building", cx, cy, slab_l, slab_w + 0.6, str(rng.choice(["tile_red", "tile_terracotta"])),
                   21.0, "gable")
        n_units = int(slab_l // 3.3)
        ys = cy - slab_w / 2 - yard_d / 2
        xl = cx - slab_l / 2
        for u in range(n_units):
            ux = xl + 3.3 * u + 1.65
            b.ground(_rect(ux, ys, 3.3, yard_d), str(rng.choice(["paving", "lawn", "soil", "paving"])), 4)
            b.rect("wall", xl + 3.3 * u, ys, 0.24, yard_d, "wall", 1.8)
        b.rect("wall", cx, cy - slab_w / 2 - yard_d, slab_l, 0.24, "wall", 1.8)
        # a few old, unchanged yard roofs (no change)
        old = {int(u) for u in rng.choice(n_units, size=min(2, n_units), replace=False)}
        yard_sites.append((xl, ys, old))
        for u in sorted(old):
            b.rect("building", xl + 3.3 * u + 1.65, ys, 3.1, yard_d - 0.2, str(rng.choice(_ROOF_MATS)), 2.8)
    used_roofs: set[int] = set()
    used_yards: set[int] = set()
    n_units = int(slab_l // 3.3)

    for ctype, klass in wants:
        for _ in range(60):  # retry until the change lies well inside the image
            if ctype in ("rooftop", "pigeon_loft"):
                free = [i for i in range(len(roof_sites)) if i not in used_roofs]
                if not free:
                    break
                i = free[int(rng.integers(len(free)))]
                cx, cy = roof_sites[i]
                mat = str(rng.choice(["steel_blue", "membrane_white", "roof_concrete_new"]))
                edge = min(12.0, slab_l / 2 - 1.0)
                ox = cx + float(rng.uniform(-slab_l / 2 + edge, slab_l / 2 - edge))
                if ctype == "rooftop":
                    ln, wd = float(rng.uniform(7, 12)), float(rng.uniform(6, 8.5))
                    grow = (ox + ln / 2 + 3.0, cy - 0.5, 6.0, wd) if klass == "known_changed" else None
                    if not b.inside(_rect(ox + 3, cy, ln + 12, wd)):
                        continue
                    _change_pair(b, "rooftop", klass, ox, cy - 0.5, ln, wd, 21.0, mat, "屋顶加层 rooftop addition",
                                 roof="gable" if mat == "steel_blue" else "flat", grow=grow, after_mat="scar")
                else:
                    ln, wd = float(rng.uniform(2.5, 3.8)), float(rng.uniform(2.4, 3.2))
                    grow = (ox + ln / 2 + 1.5, cy - 2.0, 3.0, wd) if klass == "known_changed" else None
                    if not b.inside(_rect(ox + 2, cy, ln + 6, wd)):
                        continue
                    _change_pair(b, "pigeon_loft", klass, ox, cy - 2.0, ln, wd, 20.2, "loft", "鸽棚 pigeon loft",
                                 grow=grow, after_mat="scar", base=18.05)
                used_roofs.add(i)
                break
            if ctype == "courtyard":
                free = [i for i in range(len(yard_sites)) if i not in used_yards]
                if not free:
                    break
                i = free[int(rng.integers(len(free)))]
                xl, ys, old = yard_sites[i]
                k = int(rng.integers(2 if klass == "known_changed" else 1, 4))
                u0 = int(rng.integers(1, max(n_units - 4, 2)))
                if old & set(range(u0 - 1, u0 + k + 1)) or not b.inside(_rect(xl + 3.3 * (u0 + k / 2), ys, 3.3 * k,
                                                                                 yard_d)):
                    continue
                mat = str(rng.choice(["steel_blue", "membrane_white", "roof_concrete_new", "steel_blue"]))
                if klass == "known_changed":
                    grow = (xl + 3.3 * (u0 + 1) + 3.3 * (k - 1) / 2, ys, 3.3 * (k - 1), yard_d)
                    _change_pair(b, "courtyard", klass, xl + 3.3 * u0 + 1.65, ys, 3.3, yard_d, 2.9, mat,
                                 "天井搭建 courtyard infill", grow=grow)
                else:
                    _change_pair(b, "courtyard", klass, xl + 3.3 * u0 + 3.3 * k / 2, ys, 3.3 * k, yard_d, 2.9, mat,
                                 "天井搭建 courtyard infill", after_mat="rubble")
                used_yards.add(i)
                break
            if ctype == "other":
                # a permitted e-bike charging shed / refuse room on a green strip
                greens = [o for o in b.objects if o.kind == "ground" and o.mat == "lawn" and o.geom.area > 200]
                if not greens:
                    break
                g = greens[int(rng.integers(len(greens)))]
                gb = affinity.rotate(g.geom, -b.rot, origin=(0, 0)).bounds
                ln = float(rng.uniform(7, 11))
                ox = float(rng.uniform(gb[0] + ln, gb[2] - ln))
                oy = (gb[1] + gb[3]) / 2
                if not b.inside(_rect(ox, oy, ln, 3.2)):
                    continue
                _change_pair(b, "other", klass, ox, oy, ln, 3.2, 2.8, "membrane_white" if rng.random() < 0.5 else
                             "steel_blue", "非机动车棚 e-bike shed (permitted)", roof="gable")
                break



def _block_villa(b: _Builder, x0: float, y0: float, x1: float, y1: float, wants: Sequence[tuple[str, str]]) -> None:
    """Villa compound (容积率 < 1): detached houses with hip roofs, gardens, a private lane."""
    rng = b.rng
    b.ground(box(x0, y0, x1, y1), "lawn", 1)
    plot_w, plot_d, lane = 24.0, 26.0, 6.0
    n_rows = max(int((y1 - y0) // (2 * plot_d + lane)), 1)
    villas: list[tuple[float, float, bool]] = []
    for r in range(n_rows):
        ly = y1 - plot_d - lane / 2 - r * (2 * plot_d + lane)
        b.ground(box(x0 + 1, ly - lane / 2, x1 - 1, ly + lane / 2), "asphalt_road", 3)
        for side in (1, -1):
            py = ly + side * (lane / 2 + plot_d / 2)
            if py - plot_d / 2 < y0 - 1:
                continue
            for px in np.arange(x0 + plot_w / 2 + 1, x1 - plot_w / 2, plot_w):
                px = float(px)
                b.ground(_rect(px, py, plot_w - 0.6, plot_d - 0.4), "lawn_garden", 2)
                b.ground(_rect(px + plot_w / 2 - 0.3, py, 0.9, plot_d - 0.4), "hedge", 3)
                b.ground(_rect(px - 6, ly + side * (lane / 2 + 3.0), 3.2, 6.0), "paving", 3)
                b.slot(px - 6, ly + side * (lane / 2 + 3.0), 90.0)
                vy = py + side * 1.0
                mat = str(rng.choice(["tile_terracotta", "tile_terracotta", "slate", "tile_red"]))
                b.rect("building", px + 1.5, vy, 13.5, 11.0, mat, 9.5, "hip")
                villas.append((px + 1.5, vy, side == 1))
                if rng.random() < 0.3:
                    b.ground(_rect(px + 1.5, py - side * 9.5, 6.0, 3.0), "water", 4)
                for _ in range(int(rng.integers(1, 4))):
                    tx = px + float(rng.uniform(-9, 9))
                    ty = py - side * float(rng.uniform(8, 11))
                    b.tree(tx, ty, float(rng.uniform(1.8, 3.2)), float(rng.uniform(6, 10)),
                           str(rng.choice(["evergreen", "evergreen", "deciduous"])))
    order = [int(i) for i in rng.permutation(len(villas)) if b.inside(_rect(villas[i][0] + 4, villas[i][1], 26, 16))]
    for ctype, klass in wants:
        if not order:
            break
        vx, vy, _north = villas[order.pop()]
        east = vx + 13.5 / 2
        if ctype == "villa":
            mat = str(rng.choice(["roof_concrete_new", "membrane_white", "glass"]))
            if klass == "permitted":
                _change_pair(b, "villa", klass, east + 3.1, vy - 2.0, 5.8, 6.2, 3.4, "slate",
                             "车库 garage (permitted)", roof="hip")
            elif klass == "known_changed":
                _change_pair(b, "villa", klass, east + 2.4, vy + 2.5, 4.6, 5.0, 3.4, mat, "别墅扩建 villa extension",
                             grow=(east + 2.4, vy - 2.5, 4.6, 5.0))
            else:
                ln, wd = float(rng.uniform(4.5, 6.0)), float(rng.uniform(6.0, 9.0))
                _change_pair(b, "villa", klass, east + ln / 2 + 0.1, vy, ln, wd, 3.6, mat,
                             "别墅扩建 villa extension", after_mat="soil_fresh")
        elif ctype == "pigeon_loft":
            _change_pair(b, "pigeon_loft", klass, vx - 3.0, vy, 3.2, 2.6, 11.0, "loft", "鸽棚 pigeon loft (roof)",
                         grow=(vx, vy, 3.0, 2.6) if klass == "known_changed" else None, after_mat="")


def _place(rng: np.random.Generator, region: tuple[float, float, float, float], taken: list[Polygon],
           ln: float, wd: float, gap: float = 3.0, tries: int = 200,
           ok: Callable[[Polygon], bool] | None = None) -> tuple[float, float] | None:
    x0, y0, x1, y1 = region
    for _ in range(tries):
        if x1 - x0 < ln + 2 * gap or y1 - y0 < wd + 2 * gap:
            return None
        cx = float(rng.uniform(x0 + ln / 2 + gap, x1 - ln / 2 - gap))
        cy = float(rng.uniform(y0 + wd / 2 + gap, y1 - wd / 2 - gap))
        p = _rect(cx, cy, ln + 2 * gap, wd + 2 * gap)
        if not any(p.intersects(t) for t in taken) and (ok is None or ok(p)):
            taken.append(_rect(cx, cy, ln, wd))
            return cx, cy
    return None


def _block_factory(b: _Builder, x0: float, y0: float, x1: float, y1: float,
                   wants: Sequence[tuple[str, str]]) -> None:
    """Factory / warehouse compound: big sheds, a concrete yard, trucks."""
    rng = b.rng
    b.ground(box(x0, y0, x1, y1), "concrete_yard", 1)
    for _ in range(6):
        sx, sy = float(rng.uniform(x0, x1)), float(rng.uniform(y0, y1))
        b.ground(Point(sx, sy).buffer(float(rng.uniform(1.5, 4))), "stain", 2)
    taken: list[Polygon] = []
    region = (x0 + 2, y0 + 2, x1 - 2, y1 - 2)
    for ln, wd, h in ((60.0, 28.0, 11.0), (44.0, 24.0, 9.0), (30.0, 18.0, 8.0)):
        ln, wd = min(ln, x1 - x0 - 12), min(wd, y1 - y0 - 12)
        if ln < 10 or wd < 8:
            continue
        site = _place(rng, region, taken, ln, wd, gap=5.0)
        if site is None:
            continue
        mat = str(rng.choice(["steel_blue", "membrane_white", "asphalt_roof", "steel_blue"]))
        b.rect("building", site[0], site[1], ln, wd, mat, h, "gable" if mat == "steel_blue" else "flat")
    for ctype, klass in wants:
        if ctype == "shed":
            ln, wd = float(rng.uniform(10, 18)), float(rng.uniform(8, 14))
            if klass == "known_changed":
                ln, wd = 9.0, 8.0
            site = _place(rng, region, taken, ln + (9.0 if klass == "known_changed" else 0.0), wd, gap=4.0, ok=b.inside)
            if site is None:
                continue
            cx, cy = site
            if klass == "known_changed":
                cx -= 4.5
            _change_pair(b, "shed", klass, cx, cy, ln, wd, 4.2, "steel_blue", "搭建棚房 shed", roof="gable",
                         grow=(cx + ln / 2 + 4.5, cy, 9.0, wd) if klass == "known_changed" else None)
        else:  # factory
            ln, wd = (20.0, 14.0) if klass == "permitted" else (17.0, 14.0)
            site = _place(rng, region, taken, ln, wd, gap=4.0, ok=b.inside)
            if site is None:
                continue
            mat = "membrane_white" if klass == "permitted" else "asphalt_roof"
            _change_pair(b, "factory", klass, site[0], site[1], ln, wd, 7.0, mat,
                         "仓库 warehouse (permitted)" if klass == "permitted" else "厂房 factory building")
    # trucks and vans parked in the yard
    for _ in range(10):
        site = _place(rng, region, taken, 9.0, 2.6, gap=1.0, tries=30)
        if site:
            taken.pop()
            b.slot(site[0], site[1], 0.0, "truck")


_BLOCKS: dict[str, Callable[..., None]] = {"lgf": _block_lgf, "villa": _block_villa, "factory": _block_factory}


def _roads(b: _Builder, ext: float) -> tuple[float, float]:
    """Cross of two city roads through the centre, with sidewalks, plane trees, markings."""
    rng = b.rng
    hw_ew, hw_ns, walk = 10.0, 8.0, 3.5
    b.ground(box(-ext, -hw_ew - walk, ext, hw_ew + walk), "sidewalk", 5)
    b.ground(box(-hw_ns - walk, -ext, hw_ns + walk, ext), "sidewalk", 5)
    b.ground(box(-ext, -hw_ew, ext, hw_ew), "asphalt_road", 6)
    b.ground(box(-hw_ns, -ext, hw_ns, ext), "asphalt_road", 6)
    # centre double yellow, dashed lane lines, zebra crossings
    for s in (-1, 1):
        b.ground(box(-ext, s * 0.25 - 0.1, -hw_ns - 6, s * 0.25 + 0.1), "marking_yellow", 7)
        b.ground(box(hw_ns + 6, s * 0.25 - 0.1, ext, s * 0.25 + 0.1), "marking_yellow", 7)
        b.ground(box(s * 0.25 - 0.1, -ext, s * 0.25 + 0.1, -hw_ew - 6), "marking_yellow", 7)
        b.ground(box(s * 0.25 - 0.1, hw_ew + 6, s * 0.25 + 0.1, ext), "marking_yellow", 7)
        for d in np.arange(hw_ns + 7, ext, 10.0):
            for off in (3.4, 6.8):
                y = s * off
                b.ground(box(d, y - 0.1, d + 4, y + 0.1), "marking_white", 7)
                b.ground(box(-d - 4, y - 0.1, -d, y + 0.1), "marking_white", 7)
        for d in np.arange(hw_ew + 7, ext, 10.0):
            x = s * 3.6
            b.ground(box(x - 0.1, d, x + 0.1, d + 4), "marking_white", 7)
            b.ground(box(x - 0.1, -d - 4, x + 0.1, -d), "marking_white", 7)
        for t in np.arange(-hw_ew + 0.8, hw_ew - 0.4, 1.0):
            b.ground(box(s * (hw_ns + 1) - 2.5, t, s * (hw_ns + 1) + 2.5, t + 0.45), "marking_white", 7)
        for t in np.arange(-hw_ns + 0.8, hw_ns - 0.4, 1.0):
            b.ground(box(t, s * (hw_ew + 1) - 2.5, t + 0.45, s * (hw_ew + 1) + 2.5), "marking_white", 7)
    # plane trees (法国梧桐) along the sidewalks
    for s in (-1, 1):
        for d in np.arange(hw_ns + walk + 6, ext, 8.0):
            for sign in (-1, 1):
                b.tree(sign * float(d), s * (hw_ew + walk - 1.2), float(rng.uniform(2.8, 4.0)), 11.0, "deciduous")
        for d in np.arange(hw_ew + walk + 6, ext, 8.0):
            for sign in (-1, 1):
                b.tree(s * (hw_ns + walk - 1.2), sign * float(d), float(rng.uniform(2.8, 4.0)), 11.0, "deciduous")
    # moving and parked traffic slots along the kerbs
    for d in np.arange(hw_ns + 8, ext - 3, 6.5):
        for s in (-1, 1):
            for sign in (-1, 1):
                b.slot(sign * float(d), s * float(rng.choice([1.9, 5.1, 8.6])), 0.0, "road")
    for d in np.arange(hw_ew + 8, ext - 3, 6.5):
        for s in (-1, 1):
            for sign in (-1, 1):
                b.slot(s * float(rng.choice([1.9, 5.1])), sign * float(d), 90.0, "road")
    return hw_ew + walk, hw_ns + walk


def build_scene(spec: AreaSpec, seed: int = DEFAULT_SEED) -> Scene:
    """Lay out an area's content and its real changes (pure: depends only on ``spec`` and ``seed``).

    Args:
        spec: the area.
        seed: random seed.

    Returns:
        The scene in a local metric frame centred on the area's centre (EPSG:4549 metres).
    """
    rng = np.random.default_rng([seed, sum(map(ord, spec.name))])
    cx, cy = _TO_METRIC.transform(spec.lon, spec.lat)
    centre = (round(cx), round(cy))
    ext = spec.size_m / 2 + 14.0
    b = _Builder(rng, spec.rotation, spec.size_m / 2 - min(12.0, spec.size_m / 10))
    ext_l = ext * 1.25  # the layout frame is rotated: cover the canvas corners
    b.ground(box(-ext_l, -ext_l, ext_l, ext_l), "soil", 0)
    ew, ns = _roads(b, ext_l)
    inner = ext * 1.22  # blocks run off the image so that no corner is left empty
    quads = ((-inner, ew + 1, -ns - 1, inner), (ns + 1, ew + 1, inner, inner),
             (-inner, -inner, -ns - 1, -ew - 1), (ns + 1, -inner, inner, -ew - 1))
    for kind, q, wants in zip(spec.blocks, quads, spec.wants, strict=True):
        _BLOCKS[kind](b, *q, wants)
    # cars: each epoch parks its own set
    objs = b.objects
    for ep in (1, 2):
        erng = np.random.default_rng([seed, sum(map(ord, spec.name)), ep])
        for sx, sy, ang, kind in b.slots:
            p_occ = {"car": 0.55, "truck": 0.5, "road": 0.3}[kind]
            if erng.random() > p_occ:
                continue
            ln, wd = (9.0, 2.5) if kind == "truck" else (float(erng.uniform(4.2, 4.9)), float(erng.uniform(1.75, 1.9)))
            col = _CAR_COLOURS[int(erng.integers(len(_CAR_COLOURS)))]
            jx, jy = erng.normal(0, 0.25, 2)
            heading = ang + float(erng.normal(0, 2.0)) + (180.0 if erng.random() < 0.5 else 0.0)
            g = _rect(sx + jx, sy + jy, ln, wd, heading)
            objs.append(Obj("car", g, col, 2.4 if kind == "truck" else 1.5, "car",
                            (sx + jx, sy + jy, ln, wd, heading), frozenset({ep}), 60))
    ang = float(rng.uniform(0, 2 * math.pi))
    mag = float(rng.uniform(0.8, 1.6))
    scene = Scene(spec, centre, ext, objs, b.changes, (mag * math.cos(ang), mag * math.sin(ang)),
                  int(rng.integers(2**31)))
    # structures that appear must not be hidden under trees or cars
    for c in scene.changes:
        zone = c.geom.buffer(1.5)
        scene.objects = [o for o in scene.objects if not (o.kind in ("tree", "car") and o.geom.intersects(zone))]
    return scene


# ----------------------------------------------------------------------------- rendering
_CAR_COLOURS: tuple[Rgb, ...] = (
    (232, 232, 230), (228, 230, 232), (30, 30, 34), (40, 42, 48), (170, 172, 176), (150, 152, 156),
    (150, 28, 30), (30, 60, 130), (190, 180, 160), (90, 96, 100),
)

# name: (summer rgb, spring rgb, low, mid, fine, pattern)
_MATERIALS: dict[str, tuple[Rgb, Rgb | None, float, float, float, str]] = {
    "soil": ((128, 114, 94), None, 0.10, 0.08, 0.06, ""),
    "soil_fresh": ((112, 98, 80), None, 0.10, 0.14, 0.10, ""),
    "paving": ((152, 149, 141), None, 0.05, 0.03, 0.05, ""),
    "paving_estate": ((126, 122, 114), None, 0.06, 0.04, 0.05, ""),
    "sidewalk": ((160, 150, 140), None, 0.05, 0.04, 0.05, "grid"),
    "concrete_yard": ((170, 168, 161), None, 0.06, 0.03, 0.04, ""),
    "stain": ((120, 118, 112), None, 0.10, 0.10, 0.04, ""),
    "asphalt_road": ((80, 82, 86), None, 0.05, 0.04, 0.05, ""),
    "lawn": ((84, 124, 60), (132, 126, 84), 0.10, 0.12, 0.08, ""),
    "lawn_garden": ((76, 120, 56), (118, 122, 76), 0.08, 0.10, 0.08, ""),
    "hedge": ((44, 80, 40), (60, 84, 50), 0.10, 0.15, 0.12, ""),
    "water": ((66, 118, 134), (74, 112, 120), 0.03, 0.02, 0.02, ""),
    "marking_white": ((226, 226, 222), (214, 214, 210), 0.04, 0.04, 0.04, ""),
    "marking_yellow": ((220, 184, 62), (206, 176, 70), 0.04, 0.04, 0.04, ""),
    "wall": ((196, 190, 180), None, 0.04, 0.03, 0.03, ""),
    "roof_concrete": ((178, 176, 170), None, 0.05, 0.03, 0.04, ""),
    "roof_concrete_inner": ((150, 149, 145), None, 0.07, 0.04, 0.04, ""),
    "roof_concrete_new": ((188, 186, 180), None, 0.04, 0.03, 0.03, ""),
    "scar": ((126, 120, 110), None, 0.10, 0.16, 0.10, "speckle"),
    "tank": ((206, 208, 210), None, 0.03, 0.02, 0.02, ""),
    "tile_red": ((160, 72, 54), None, 0.06, 0.05, 0.05, "tiles"),
    "tile_terracotta": ((182, 108, 72), None, 0.06, 0.05, 0.05, "tiles"),
    "slate": ((86, 90, 98), None, 0.05, 0.04, 0.05, "tiles"),
    "steel_blue": ((56, 108, 168), None, 0.05, 0.03, 0.03, "corrugated"),
    "membrane_white": ((224, 226, 228), None, 0.03, 0.02, 0.02, "panels"),
    "asphalt_roof": ((66, 66, 68), None, 0.07, 0.06, 0.08, ""),
    "glass": ((118, 138, 150), None, 0.03, 0.02, 0.02, "panels"),
    "loft": ((84, 100, 116), None, 0.04, 0.05, 0.05, "mesh"),
    "rubble": ((146, 132, 114), None, 0.12, 0.20, 0.22, "speckle"),
    "evergreen": ((50, 86, 46), (56, 84, 50), 0.10, 0.22, 0.14, ""),
    "deciduous": ((72, 106, 54), (120, 110, 94), 0.10, 0.25, 0.16, ""),
}


def _fbm(rng: np.random.Generator, shape: tuple[int, int], cells: Sequence[float]) -> np.ndarray:
    """Smooth value noise, zero-mean, unit-ish amplitude, summed over cell sizes (pixels)."""
    h, w = shape
    out = np.zeros(shape, np.float32)
    for i, c in enumerate(cells):
        small = rng.standard_normal((int(h / c) + 2, int(w / c) + 2)).astype(np.float32)
        out = out + np.asarray(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC), np.float32) / (1.6**i)
    return out / max(float(out.std()), 1e-6)


class _Canvas:
    """The render target in the local frame: colour, surface height, noise fields."""

    def __init__(self, scene: Scene) -> None:
        n = round(2 * scene.extent / RES)
        self.n = n
        self.ext = scene.extent
        self.rgb = np.zeros((n, n, 3), np.float32)
        self.h = np.zeros((n, n), np.float32)
        rng = np.random.default_rng(scene.noise_seed)
        self.low = _fbm(rng, (n, n), (60, 30))
        self.mid = _fbm(rng, (n, n), (8, 4))
        self.fine = rng.standard_normal((n, n)).astype(np.float32)
        self.speck = rng.random((n, n)).astype(np.float32)

    def window(self, geom: BaseGeometry) -> tuple[slice, slice, np.ndarray] | None:
        minx, miny, maxx, maxy = geom.bounds
        c0 = max(math.floor((minx + self.ext) / RES) - 1, 0)
        c1 = min(math.ceil((maxx + self.ext) / RES) + 1, self.n)
        r0 = max(math.floor((self.ext - maxy) / RES) - 1, 0)
        r1 = min(math.ceil((self.ext - miny) / RES) + 1, self.n)
        if c1 <= c0 or r1 <= r0:
            return None
        mask = np.zeros((r1 - r0, c1 - c0), np.uint8)
        polys = list(getattr(geom, "geoms", [geom]))
        for p in polys:
            if p.is_empty:
                continue
            pts = np.asarray(p.exterior.coords)
            px = np.stack([(pts[:, 0] + self.ext) / RES - 0.5 - c0, (self.ext - pts[:, 1]) / RES - 0.5 - r0], 1)
            cv2.fillPoly(mask, [np.round(px * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
            for hole in p.interiors:
                hp = np.asarray(hole.coords)
                hx = np.stack([(hp[:, 0] + self.ext) / RES - 0.5 - c0, (self.ext - hp[:, 1]) / RES - 0.5 - r0], 1)
                cv2.fillPoly(mask, [np.round(hx * 16).astype(np.int32)], 0, lineType=cv2.LINE_8, shift=4)
        return slice(r0, r1), slice(c0, c1), mask.astype(bool)

    def coords(self, rs: slice, cs: slice) -> tuple[np.ndarray, np.ndarray]:
        xs = -self.ext + (np.arange(cs.start, cs.stop, dtype=np.float32) + 0.5) * RES
        ys = self.ext - (np.arange(rs.start, rs.stop, dtype=np.float32) + 0.5) * RES
        return xs[None, :], ys[:, None]


def _sun(ep: EpochSpec) -> np.ndarray:
    az, el = math.radians(ep.sun_azimuth), math.radians(ep.sun_elevation)
    return np.array([math.sin(az) * math.cos(el), math.cos(az) * math.cos(el), math.sin(el)], np.float32)


def _local_uv(o: Obj, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    assert o.axis is not None
    cx, cy, _, _, ang = o.axis
    a = math.radians(ang)
    u = (x - cx) * math.cos(a) + (y - cy) * math.sin(a)
    v = -(x - cx) * math.sin(a) + (y - cy) * math.cos(a)
    return u, v, a


def _shade(o: Obj, x: np.ndarray, y: np.ndarray, sun: np.ndarray) -> np.ndarray | float:
    """Relative brightness of a sloped surface (flat ground = 1)."""
    flat = 0.55 + 0.6 * float(sun[2])
    if o.roof in ("hip", "gable"):
        u, v, a = _local_uv(o, x, y)
        half_l, half_w = o.axis[2] / 2, o.axis[3] / 2  # type: ignore[index]
        t = math.radians(28.0 if o.roof == "hip" else (10.0 if o.mat == "steel_blue" else 26.0))
        end = (np.abs(u) - (half_l - half_w) > np.abs(v)) if o.roof == "hip" else np.zeros_like(u * v, bool)
        nu = np.where(end, np.sign(u) * math.sin(t), 0.0)
        nv = np.where(end, 0.0, np.sign(v) * math.sin(t))
        nx = nu * math.cos(a) - nv * math.sin(a)
        ny = nu * math.sin(a) + nv * math.cos(a)
        d = nx * sun[0] + ny * sun[1] + math.cos(t) * sun[2]
        return (0.55 + 0.6 * np.clip(d, 0, 1)) / flat
    if o.roof == "dome":
        cx, cy, r = o.axis[0], o.axis[1], o.axis[2]  # type: ignore[index]
        dx, dy = (x - cx) / r, (y - cy) / r
        nz = np.sqrt(np.clip(1 - dx * dx - dy * dy, 0.05, 1))
        d = (dx * sun[0] + dy * sun[1] + nz * sun[2]) / np.sqrt(dx * dx + dy * dy + nz * nz)
        return (0.45 + 0.7 * np.clip(d, 0, 1)) / flat
    return 1.0


def _colour(o: Obj, cv: _Canvas, rs: slice, cs: slice, ep: EpochSpec, sun: np.ndarray) -> np.ndarray:
    x, y = cv.coords(rs, cs)
    if o.kind == "car":
        base = np.array(o.mat, np.float32)
        u, v, _ = _local_uv(o, x, y)
        ln = o.axis[2]  # type: ignore[index]
        glass = (np.abs(u) < ln * 0.22) & (np.abs(u) > ln * 0.05) & (np.abs(v) < o.axis[3] * 0.42)  # type: ignore[index]
        col = np.broadcast_to(base, (*np.broadcast(u, v).shape, 3)).copy()
        col[glass] = (38, 42, 48)
        return col * (1 + 0.03 * cv.fine[rs, cs][..., None])
    summer, spring, a_low, a_mid, a_fine, pattern = _MATERIALS[o.mat]
    base = np.array(spring if (ep.season == "spring" and spring is not None) else summer, np.float32)
    low, mid, fine = cv.low[rs, cs], cv.mid[rs, cs], cv.fine[rs, cs]
    f = 1 + a_low * low + a_mid * mid + a_fine * fine
    if pattern and o.axis is not None:
        u, v, _ = _local_uv(o, x, y)
        if pattern == "corrugated":
            f = f * (1 + 0.09 * np.sin(2 * math.pi * u / 0.85))
        elif pattern == "tiles":
            f = f * (1 + 0.07 * np.sin(2 * math.pi * v / 0.55)) * (1 + 0.03 * np.sin(2 * math.pi * u / 0.3))
        elif pattern == "panels":
            f = f * (1 - 0.12 * (np.abs((u % 2.4) - 1.2) > 1.05))
        elif pattern == "mesh":
            f = f * (1 + 0.45 * ((np.abs(u % 0.8) < 0.2) | (np.abs(v % 0.8) < 0.2)))
    elif pattern == "grid":
        f = f * (1 - 0.08 * ((np.abs(x % 0.6) < 0.1) | (np.abs(y % 0.6) < 0.1)))
    if pattern == "speckle":
        sp = cv.speck[rs, cs]
        f = f * np.where(sp > 0.93, 1.35, np.where(sp < 0.06, 0.6, 1.0))
        col = base * f[..., None]
        col[sp > 0.975] = (150, 70, 55)  # broken brick
        return col
    if o.kind == "tree":
        f = f * (1 + 0.18 * np.tanh(2 * mid))
    return base * np.asarray(f)[..., None]


def _sweep(geom: Polygon, dx: float, dy: float) -> BaseGeometry:
    pts = list(geom.exterior.coords)
    quads = [Polygon([p, q, (q[0] + dx, q[1] + dy), (p[0] + dx, p[1] + dy)]) for p, q in itertools.pairwise(pts)]
    return unary_union([geom, affinity.translate(geom, dx, dy), *[q.buffer(0) for q in quads]])


def render(scene: Scene, epoch: int, ep: EpochSpec) -> np.ndarray:
    """Render an epoch of a scene on the local canvas (float32 RGB, no sensor effects yet).

    Args:
        scene: from :func:`build_scene`.
        epoch: 1 or 2.
        ep: sun, season and sensor of the epoch.

    Returns:
        (n, n, 3) float32 array, north up, ``RES`` metres per pixel, centred on the scene's centre.
    """
    cv = _Canvas(scene)
    sun = _sun(ep)
    objs = [o for o in scene.objects if epoch in o.epochs]
    objs.sort(key=lambda o: (0, o.z, 0.0) if o.kind == "ground" else (1, 0 if o.kind != "tree" else 1, o.height))
    casters: list[Obj] = []
    for o in objs:
        w = cv.window(o.geom)
        if w is None:
            continue
        rs, cs, m = w
        if o.kind == "tree":
            x, y = cv.coords(rs, cs)
            r = o.axis[2]  # type: ignore[index]
            d = np.sqrt((x - o.axis[0]) ** 2 + (y - o.axis[1]) ** 2)  # type: ignore[index]
            m = m & (d < r * (1 + 0.12 * cv.mid[rs, cs]))
        col = _colour(o, cv, rs, cs, ep, sun)
        col = col * np.asarray(_shade(o, *cv.coords(rs, cs), sun))[..., None] if o.kind != "ground" else col
        tgt = cv.rgb[rs, cs]
        if o.kind == "tree" and o.mat == "deciduous" and ep.season == "spring":
            sparse = m & (cv.mid[rs, cs] + 0.6 * cv.fine[rs, cs] > -0.2)
            tgt[sparse] = 0.45 * tgt[sparse] + 0.55 * col[sparse]
            cv.h[rs, cs][sparse] = np.maximum(cv.h[rs, cs][sparse], o.height)
        else:
            tgt[m] = col[m]
            cv.h[rs, cs][m] = o.height
        if o.height > 0:
            casters.append(o)
    # shadows, cast by every object with height onto lower surfaces
    shadow = np.zeros((cv.n, cv.n), np.float32)
    el = math.radians(ep.sun_elevation)
    hx, hy = -float(sun[0]) / math.cos(el), -float(sun[1]) / math.cos(el)
    for o in casters:
        length = o.height / math.tan(el)
        w = cv.window(_sweep(o.geom, hx * length, hy * length))
        if w is None:
            continue
        rs, cs, m = w
        strength = 0.55 if (o.kind == "tree" and o.mat == "deciduous" and ep.season == "spring") else 1.0
        if o.kind == "tree":
            strength *= 0.9
        # a surface at height z is shaded when the caster top projects beyond it
        under = m & (cv.h[rs, cs] < o.height - 0.25)
        shadow[rs, cs] = np.maximum(shadow[rs, cs], under * strength)
    soft = np.asarray(cv2.GaussianBlur(shadow, (0, 0), 0.8), np.float32)
    # direct light removed; blue skylight keeps shadows from going black or neutral
    cv.rgb *= 1 - soft[..., None] * ep.shadow * np.array([1.0, 0.96, 0.84], np.float32)
    return cv.rgb


def _sensor(img: np.ndarray, ep: EpochSpec, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = cv2.GaussianBlur(img, (0, 0), ep.blur)
    out = np.clip(out / 255.0, 0, 1) ** ep.gamma * 255.0
    out = out * np.array(ep.gain, np.float32) + np.array(ep.haze, np.float32)
    out += rng.normal(0, ep.noise, out.shape).astype(np.float32)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- grids and files
@dataclass(frozen=True)
class Grid:
    """Pixel grid of a delivered file."""

    epsg: int
    transform: tuple[float, float, float, float, float, float]  # GDAL order: x0, res, 0, y0, 0, -res
    width: int
    height: int

    def affine(self) -> Any:
        from rasterio.transform import Affine

        x0, rx, _, y0, _, ry = self.transform
        return Affine(rx, 0.0, x0, 0.0, ry, y0)


def epoch_grid(scene: Scene, ep: EpochSpec) -> Grid:
    """The output grid of an epoch: ``size_m`` square at ``RES``, snapped to whole pixels, in ``ep.epsg``."""
    tr = Transformer.from_crs(METRIC_EPSG, ep.epsg, always_xy=True)
    x, y = tr.transform(*scene.centre)
    n = round(scene.spec.size_m / RES)
    x0 = math.floor((x - scene.spec.size_m / 2) / RES) * RES
    y0 = math.ceil((y + scene.spec.size_m / 2) / RES) * RES
    return Grid(ep.epsg, (round(x0, 3), RES, 0.0, round(y0, 3), 0.0, -RES), n, n)


def _grid_to_canvas(scene: Scene, grid: Grid) -> np.ndarray:
    """2×3 affine taking output pixel indices (col, row) to canvas pixel indices (least squares)."""
    tr = Transformer.from_crs(grid.epsg, METRIC_EPSG, always_xy=True)
    x0, rx, _, y0, _, ry = grid.transform
    cols, rows = np.meshgrid(np.linspace(0, grid.width - 1, 9), np.linspace(0, grid.height - 1, 9))
    gx = x0 + (cols + 0.5) * rx
    gy = y0 + (rows + 0.5) * ry
    mx, my = tr.transform(gx.ravel(), gy.ravel())
    px = (np.asarray(mx) - scene.centre[0] + scene.extent) / RES - 0.5
    py = (scene.extent - (np.asarray(my) - scene.centre[1])) / RES - 0.5
    a = np.stack([cols.ravel(), rows.ravel(), np.ones(cols.size)], 1)
    mcol, *_ = np.linalg.lstsq(a, px, rcond=None)
    mrow, *_ = np.linalg.lstsq(a, py, rcond=None)
    return np.stack([mcol, mrow]).astype(np.float64)


def render_epoch(scene: Scene, epoch: int, ep: EpochSpec) -> tuple[np.ndarray, Grid]:
    """An epoch's delivered image: rendered, resampled onto its own CRS grid, sensor applied.

    Returns:
        (array of shape (3, H, W) uint8, its grid).
    """
    img = render(scene, epoch, ep)
    grid = epoch_grid(scene, ep)
    m = _grid_to_canvas(scene, grid)
    if ep.misregistration:
        m[0, 2] += scene.shift_px[0]
        m[1, 2] += scene.shift_px[1]
    warped = cv2.warpAffine(img, m, (grid.width, grid.height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                            borderMode=cv2.BORDER_REFLECT)
    out = _sensor(warped, ep, scene.noise_seed + epoch)
    return np.ascontiguousarray(out.transpose(2, 0, 1)), grid


def file_name(spec: AreaSpec, ep: EpochSpec) -> str:
    """``area1_2024-09.tif``."""
    return f"{spec.name}_{ep.label}.tif"


def to_wgs84(geom: BaseGeometry, scene: Scene) -> BaseGeometry:
    """Local frame → EPSG:4326 (lon, lat)."""
    cx, cy = scene.centre

    def fwd(x: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
        return _FROM_METRIC.transform(x + cx, y + cy)

    return shapely.transform(geom, fwd, interleaved=False)  # type: ignore[arg-type]


def area_m2(geom_wgs84: BaseGeometry) -> float:
    """Area of an EPSG:4326 geometry in m², measured in EPSG:4549."""
    return float(reproject_geom(geom_wgs84, 4326, METRIC_EPSG).area)


def reproject_geom(geom: BaseGeometry, src: Any, dst: Any) -> BaseGeometry:
    """Reproject a shapely geometry between two CRSs (x/lon first)."""
    tr = Transformer.from_crs(src, dst, always_xy=True)
    return shapely.transform(geom, tr.transform, interleaved=False)  # type: ignore[arg-type]


def _round_geom(geom: BaseGeometry, nd: int = 8) -> dict[str, Any]:
    g = mapping(geom)
    g["coordinates"] = json.loads(json.dumps(g["coordinates"]), parse_float=lambda s: round(float(s), nd))
    return g


def features(scene: Scene, epochs: Sequence[EpochSpec] = EPOCHS) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Ground-truth and record GeoJSON features of a scene (EPSG:4326, RFC 7946).

    Returns:
        (ground-truth features, record features).
    """
    spec = scene.spec
    gt: list[dict[str, Any]] = []
    recs: list[dict[str, Any]] = []
    before, after = file_name(spec, epochs[0]), file_name(spec, epochs[1])
    for i, c in enumerate(scene.changes, 1):
        cid = f"{spec.name}-{i:02d}"
        g = to_wgs84(c.geom, scene)
        code = None
        if c.record is not None and c.record_geom is not None:
            rg = to_wgs84(c.record_geom, scene)
            if c.record["record"] == "permit":
                code = f"规建许(2024)-{spec.name[-1]}{i:03d}"
                props: dict[str, Any] = {"record": "permit", "permit_no": code, "holder": "示例业主 sample holder",
                                         "issued_at": "2024-11-05"}
            else:
                code = f"CN-{spec.name.upper()}-{i:03d}"
                props = {"record": "violation", "code": code, "vtype": c.record["vtype"], "kind": c.record["kind"],
                         "status": c.record["status"], "in_database": c.record["kind"] == "stock",
                         "is_key": c.type in ("villa", "factory"), "area_m2": round(area_m2(rg), 2),
                         "discovered_at": "2023-06-01" if c.record["kind"] == "stock" else "2024-05-20",
                         "source": "database" if c.record["kind"] == "stock" else "patrol"}
            props.update({"change_id": cid, "note": c.note})
            recs.append({"type": "Feature", "properties": props, "geometry": _round_geom(rg)})
        gt.append({
            "type": "Feature",
            "properties": {
                "id": cid, "area": spec.name, "change": c.change, "type": c.type,
                "area_m2": round(area_m2(g), 2), "before": before, "after": after,
                "expected_class": c.klass, "record": code, "note": c.note,
            },
            "geometry": _round_geom(g),
        })
    return gt, recs


def write_area(scene: Scene, out_dir: Path, epochs: Sequence[EpochSpec] = EPOCHS,
               progress: Callable[[str], None] | None = None) -> list[Path]:
    """Render and write an area's epochs as tiled, JPEG-compressed Cloud-Optimized GeoTIFFs."""
    import rasterio
    from rasterio.io import MemoryFile
    from rasterio.shutil import copy as rio_copy

    paths = []
    for i, ep in enumerate(epochs, 1):
        arr, grid = render_epoch(scene, i, ep)
        path = out_dir / file_name(scene.spec, ep)
        profile = {"driver": "GTiff", "width": grid.width, "height": grid.height, "count": 3, "dtype": "uint8",
                   "crs": f"EPSG:{grid.epsg}", "transform": grid.affine()}
        with MemoryFile() as mem:
            with mem.open(**profile) as dst:
                dst.write(arr)
                dst.update_tags(AREA=scene.spec.name, CAPTURED=ep.captured, SENSOR="drone",
                                SOURCE="synthetic: python app.py make-samples")
                for b, name in enumerate(("red", "green", "blue"), 1):
                    dst.set_band_description(b, name)
            with mem.open() as src:
                rio_copy(src, str(path), driver="COG", COMPRESS="JPEG", QUALITY=88, BLOCKSIZE=256,
                         OVERVIEWS="AUTO", OVERVIEW_RESAMPLING="AVERAGE")
        with rasterio.open(path) as chk:
            assert chk.crs.to_epsg() == grid.epsg
        paths.append(path)
        if progress:
            progress(path.name)
    return paths


def _collection(feats: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return {"type": "FeatureCollection", "name": name, "features": feats}


def generate(out_dir: Path | str = "sample_tiles", seed: int = DEFAULT_SEED, areas: Sequence[AreaSpec] = AREAS,
             progress: Callable[[str], None] | None = None) -> list[Path]:
    """Write every area's epochs, ``ground_truth.geojson`` and ``records.geojson`` into ``out_dir``.

    Args:
        out_dir: target folder (created).
        seed: random seed; the same seed gives the same pixels.
        areas: which areas.
        progress: called with a short label after each step.

    Returns:
        The files written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    gt_all: list[dict[str, Any]] = []
    rec_all: list[dict[str, Any]] = []
    for spec in areas:
        scene = build_scene(spec, seed)
        if progress:
            progress(f"{spec.name}: layout")
        written += write_area(scene, out, EPOCHS, progress)
        gt, recs = features(scene)
        gt_all += gt
        rec_all += recs
    for name, feats in (("ground_truth", gt_all), ("records", rec_all)):
        p = out / f"{name}.geojson"
        p.write_text(json.dumps(_collection(feats, name), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        written.append(p)
    if progress:
        progress("geojson")
    return written


def steps(areas: Sequence[AreaSpec] = AREAS) -> int:
    """Number of ``progress`` calls :func:`generate` makes."""
    return len(areas) * (1 + len(EPOCHS)) + 1


def ground_truth_mask(gt: dict[str, Any], area: str, crs: Any, transform: Any, shape: tuple[int, int]) -> np.ndarray:
    """Rasterise an area's ground-truth polygons onto a grid (True = real change).

    Args:
        gt: the parsed ``ground_truth.geojson``.
        area: which area (``area1``).
        crs: the grid's CRS (anything pyproj accepts).
        transform: the grid's affine transform.
        shape: (rows, cols).
    """
    from rasterio.features import rasterize

    geoms = [reproject_geom(shape_of(f), 4326, crs) for f in gt["features"] if f["properties"]["area"] == area]
    if not geoms:
        return np.zeros(shape, bool)
    return rasterize([(g, 1) for g in geoms], out_shape=shape, transform=transform, fill=0, dtype="uint8").astype(bool)


def shape_of(feature: dict[str, Any]) -> BaseGeometry:
    """Shapely geometry of a GeoJSON feature."""
    return shape(feature["geometry"])
