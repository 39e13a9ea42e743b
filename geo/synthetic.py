"""A synthetic demo district (长宁区), as pure functions: a seed and a date in, records out.

Nothing here touches the database or a file; :mod:`geo.seed` writes what :func:`generate`
returns. The same ``seed``, ``today`` and ``size`` always give the same records.

The district tiles lon 121.36–121.44 E, lat 31.19–31.23 N with ten streets named after
Changning's (irregular Voronoi cells), a few communities (居村) each, blocks between roads
subdivided into parcels, stock violations with statuses spread like the district reports'
figures, new items found over the last twelve months (most removed quickly), the status
events of every item in Asia/Shanghai business hours, 12345 complaints in roughly the
Putuo 2024 proportions, drone sorties, permits and per-street annual closure targets.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import MultiPolygon, Point, Polygon, box
from shapely.geometry.base import BaseGeometry

from geo import workflow
from geo.crs import METRIC_EPSG, STORAGE_EPSG
from geo.models import DiscoverySource, Status, ViolationKind, ViolationType

TZ = ZoneInfo("Asia/Shanghai")
#: West, south, east, north of the demo district (lon/lat).
BOUNDS = (121.36, 31.19, 121.44, 31.23)
DISTRICT_CODE = "310105"
DISTRICT_TARGET_M2 = 120_000.0
DISTRICT_TARGET_COUNT = 900
#: The 补证销项 (legalised) part of the target, as in Changning 2024 (69,500 m² was 189 % of it).
DISTRICT_PERMIT_TARGET_M2 = 36_772.0
DISTRICT_PERMIT_TARGET_COUNT = 680
OFFICE = "长宁区拆违办"

#: (code, name, English name) of the ten streets/towns, laid out west→east, north row then south row.
STREETS: tuple[tuple[str, str, str], ...] = (
    ("310105102", "新泾镇", "Xinjing Town"),
    ("310105011", "北新泾街道", "Beixinjing Subdistrict"),
    ("310105006", "天山路街道", "Tianshan Road Subdistrict"),
    ("310105005", "周家桥街道", "Zhoujiaqiao Subdistrict"),
    ("310105001", "华阳路街道", "Huayang Road Subdistrict"),
    ("310105010", "程家桥街道", "Chengjiaqiao Subdistrict"),
    ("310105008", "仙霞新村街道", "Xianxia Xincun Subdistrict"),
    ("310105009", "虹桥街道", "Hongqiao Subdistrict"),
    ("310105004", "新华路街道", "Xinhua Road Subdistrict"),
    ("310105002", "江苏路街道", "Jiangsu Road Subdistrict"),
)

_COMMUNITY_ROOTS = (
    "安化", "愚园", "华阳", "古北", "荣华", "虹仙", "仙霞", "茅台", "天山", "遵义", "中山", "新泾", "北虹",
    "淞虹", "绥宁", "哈密", "剑河", "紫云", "玉屏", "金钟", "长宁", "延西", "武夷", "定西", "番禺", "新华",
    "法华", "幸福", "凯旋", "江苏", "镇宁", "西郊", "虹储", "锦屏", "水城", "威宁", "天原", "泉口", "新渔",
    "哈密", "福泉", "北翟", "平塘", "广顺", "双流", "可乐", "芙蓉", "程家", "虹古", "友谊",
)
_EW_ROADS = (
    "北翟路", "临新路", "北渔路", "金钟路", "天山西路", "福泉北路", "淞虹路", "协和路", "天山路", "仙霞路",
    "茅台路", "娄山关路", "虹桥路", "长宁路", "愚园路", "延安西路", "法华镇路", "新华路", "番禺路", "武夷路",
    "安化路", "定西路", "哈密路", "剑河路", "威宁路", "水城路", "古北路", "中山西路", "凯旋路", "江苏路",
)
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
_GIVEN = ("建国", "明", "伟", "芳", "敏", "静", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "超", "霞", "平", "刚",
          "桂英", "志强", "海燕", "晓东", "文华", "国平", "丽华", "卫东", "玉兰", "春生", "秀英", "俊")

LAND_USES = ("住宅", "低密度住宅", "商业", "工业", "仓储", "公共设施", "绿地")
#: Land-use shares by zone (west: airport side, middle, east: old town), in LAND_USES order.
_LAND_USE_P = {
    "west": (0.30, 0.18, 0.05, 0.22, 0.13, 0.04, 0.08),
    "middle": (0.58, 0.06, 0.14, 0.06, 0.02, 0.09, 0.05),
    "east": (0.56, 0.04, 0.24, 0.01, 0.00, 0.10, 0.05),
}
#: Violation types likely on each land use (type, weight) and the use's violation rate weight.
_TYPES_BY_USE: dict[str, tuple[float, tuple[tuple[str, float], ...]]] = {
    "住宅": (1.0, (("rooftop", 0.45), ("courtyard", 0.30), ("shed", 0.15), ("shopfront", 0.05), ("other", 0.05))),
    "低密度住宅": (1.6, (("villa", 0.75), ("shed", 0.15), ("rooftop", 0.10))),
    "商业": (0.8, (("shopfront", 0.65), ("rooftop", 0.15), ("shed", 0.15), ("other", 0.05))),
    "工业": (1.6, (("factory", 0.70), ("shed", 0.25), ("other", 0.05))),
    "仓储": (1.6, (("factory", 0.65), ("shed", 0.30), ("other", 0.05))),
    "公共设施": (0.3, (("shed", 0.6), ("other", 0.4))),
    "绿地": (0.2, (("shed", 0.7), ("other", 0.3))),
}
#: Footprint area range (m²) per type.
_AREA_RANGE = {
    "villa": (60.0, 420.0), "rooftop": (20.0, 160.0), "courtyard": (6.0, 40.0), "factory": (120.0, 1500.0),
    "pigeon_loft": (4.0, 30.0), "shopfront": (12.0, 90.0), "shed": (8.0, 120.0), "other": (8.0, 100.0),
}
#: Final statuses of in-database stock items (a path name and its share), like the reports' figures.
_STOCK_PATHS: tuple[tuple[str, float], ...] = (
    ("confirmed", 0.19), ("case_filed", 0.22), ("demolished", 0.02), ("closed_demolished", 0.13),
    ("permit_granted", 0.02), ("closed_permit", 0.23), ("annotated", 0.09), ("annotation_lifted", 0.02),
    ("closed_lifted", 0.01), ("regularised", 0.04), ("closed_regularised", 0.03),
)
_PIGEON_WEST_OF = 121.385  # the airport clearance zone


@dataclass(frozen=True)
class SeedSize:
    """How big the district is (the full demo by default; tests use :meth:`scaled`)."""

    parcels: int = 20_000
    stock: int = 3_000
    stock_outside: int = 40  # 库外存量 found during the year
    new: int = 150  # new items found during the year (imagery, patrol, complaints)
    rebuilt: int = 5  # 反弹: closed items rebuilt
    complaints: int = 1_250
    sorties: int = 450
    permits: int = 2_000
    pilots: int = 12

    def scaled(self, factor: float) -> SeedSize:
        """A district ``factor`` times as big (at least a few of everything)."""
        return SeedSize(**{k: max(3, round(v * factor)) for k, v in self.__dict__.items()})


FULL = SeedSize()


@dataclass(frozen=True)
class UnitRec:
    code: str
    name: str
    name_en: str | None
    level: str
    parent_code: str | None
    geom: MultiPolygon


@dataclass(frozen=True)
class ParcelRec:
    code: str
    address: str
    land_use: str
    street_code: str
    community_code: str
    area_m2: float
    geom: MultiPolygon


@dataclass(frozen=True)
class EventRec:
    from_status: str | None
    to_status: str
    at: datetime
    actor: str
    reason: str | None = None
    evidence: tuple[str, ...] = ()
    area_m2: float | None = None


@dataclass(frozen=True)
class ViolationRec:
    code: str
    kind: str
    in_database: bool
    vtype: str
    is_key: bool
    area_m2: float
    address: str | None
    street_code: str | None
    parcel_code: str | None
    source: str
    discovered_at: datetime
    geom: MultiPolygon
    events: tuple[EventRec, ...]
    rebuilt_from_code: str | None = None
    note: str | None = None

    @property
    def status(self) -> str:
        return self.events[-1].to_status

    @property
    def status_at(self) -> datetime:
        return self.events[-1].at


@dataclass(frozen=True)
class ComplaintRec:
    ticket_no: str
    received_at: datetime
    about: str
    description: str
    address: str | None
    street_code: str | None
    violation_code: str | None
    is_key: bool
    verdict: str
    verified_at: datetime | None
    explained_at: datetime | None
    resolved_at: datetime | None
    geom: Point


@dataclass(frozen=True)
class SortieRec:
    code: str
    pilot: str
    drone: str
    flown_at: datetime
    task: str
    street_code: str
    geom: MultiPolygon


@dataclass(frozen=True)
class PermitRec:
    permit_no: str
    holder: str
    issued_at: datetime | None
    parcel_code: str | None
    street_code: str | None
    geom: MultiPolygon


@dataclass(frozen=True)
class TargetRec:
    year: int
    unit_code: str
    closure_area_m2: float
    closure_count: int
    permit_area_m2: float | None = None
    permit_count: int | None = None


@dataclass
class District:
    """Everything the seed writes."""

    units: list[UnitRec] = field(default_factory=list)
    parcels: list[ParcelRec] = field(default_factory=list)
    violations: list[ViolationRec] = field(default_factory=list)
    complaints: list[ComplaintRec] = field(default_factory=list)
    sorties: list[SortieRec] = field(default_factory=list)
    permits: list[PermitRec] = field(default_factory=list)
    targets: list[TargetRec] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Number of records of each kind (events counted separately)."""
        return {
            "admin_units": len(self.units), "parcels": len(self.parcels), "violations": len(self.violations),
            "violation_events": sum(len(v.events) for v in self.violations), "complaints": len(self.complaints),
            "sorties": len(self.sorties), "permits": len(self.permits), "annual_targets": len(self.targets),
        }


# ----------------------------------------------------------------------------- public


def generate(seed: int, today: date, size: SeedSize = FULL, records: list[dict[str, Any]] | None = None) -> District:
    """Build the synthetic district.

    Args:
        seed: random seed; the same seed, day and size give the same records.
        today: the day the data runs up to (events end the day before, Asia/Shanghai).
        size: how many of everything.
        records: GeoJSON features (EPSG:4326) of the sample imagery's known violations and
            permits (``properties.record`` = ``violation`` | ``permit``); added as they are,
            and kept clear of synthetic items.
    """
    rng = np.random.default_rng(seed)
    d = District()
    xs, ys = _grid(rng, size.parcels)
    d.units, comm_of = _units(rng, xs, ys)
    streets = [u for u in d.units if u.level == "street"]
    d.parcels = _parcels(rng, size.parcels, xs, ys, comm_of)
    reserved = _records_zone(records or [])
    ctx = _Ctx(rng, today, d.parcels, reserved)
    d.violations = _stock(ctx, size.stock) + _outside_stock(ctx, size.stock_outside)
    d.violations += _new_items(ctx, size.new)
    d.violations += _rebuilt(ctx, d.violations, size.rebuilt)
    rec_viol, rec_perm = records_to_items(records or [], streets, d.parcels, today)
    d.violations += rec_viol
    d.complaints = _complaints(ctx, d.violations, size.complaints)
    d.sorties = _sorties(ctx, streets, size.sorties, size.pilots)
    d.permits = _permits(ctx, d.violations, size.permits) + rec_perm
    d.targets = targets(d.violations, streets, today)
    return d


def targets(violations: list[ViolationRec], streets: list[UnitRec], today: date) -> list[TargetRec]:
    """Per-street closure targets of this and last year, split by each street's stock area.

    The streets' targets sum exactly to the district's (120,000 m², 900 items).
    """
    stock_area = {s.code: 0.0 for s in streets}
    for v in violations:
        if v.kind == ViolationKind.STOCK.value and v.street_code in stock_area:
            stock_area[v.street_code] += v.area_m2
    total = sum(stock_area.values()) or 1.0
    out: list[TargetRec] = []
    for year in (today.year - 1, today.year):
        shares = [stock_area[s.code] / total for s in streets]
        areas = _split_exact(DISTRICT_TARGET_M2, shares, 2)
        counts = _split_exact(float(DISTRICT_TARGET_COUNT), shares, 0)
        permit_areas = _split_exact(DISTRICT_PERMIT_TARGET_M2, shares, 2)
        permit_counts = _split_exact(float(DISTRICT_PERMIT_TARGET_COUNT), shares, 0)
        out += [TargetRec(year, s.code, a, int(c), pa, int(pc))
                for s, a, c, pa, pc in zip(streets, areas, counts, permit_areas, permit_counts, strict=True)]
        out.append(TargetRec(year, DISTRICT_CODE, DISTRICT_TARGET_M2, DISTRICT_TARGET_COUNT,
                             DISTRICT_PERMIT_TARGET_M2, DISTRICT_PERMIT_TARGET_COUNT))
    return out


def business_time(rng: np.random.Generator, day: date) -> datetime:
    """A time on ``day`` (moved to the next weekday) between 09:00 and 17:30, Asia/Shanghai."""
    day = next_weekday(day)
    minute = int(rng.integers(0, 510))
    return datetime.combine(day, time(9, 0), TZ) + timedelta(minutes=minute, seconds=int(rng.integers(0, 60)))


def next_weekday(day: date) -> date:
    """``day`` itself on Monday–Friday, else the following Monday."""
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


# ----------------------------------------------------------------------------- geometry

_TO_METRIC = Transformer.from_crs(STORAGE_EPSG, METRIC_EPSG, always_xy=True)
_M_PER_DEG_LAT = 110_950.0
_M_PER_DEG_LON = 111_320.0 * float(np.cos(np.radians(31.21)))


def areas_m2(geoms: Any) -> np.ndarray:
    """Metric areas (m²) of an array of EPSG:4326 geometries."""
    return shapely.area(shapely.transform(np.asarray(geoms), _TO_METRIC.transform, interleaved=False))  # type: ignore[no-any-return, arg-type]


def _mp(g: BaseGeometry) -> MultiPolygon:
    if isinstance(g, MultiPolygon):
        return g
    if isinstance(g, Polygon):
        return MultiPolygon([g])
    polys = [p for p in getattr(g, "geoms", []) if isinstance(p, Polygon)]
    polys += [q for p in getattr(g, "geoms", []) if isinstance(p, MultiPolygon) for q in p.geoms]
    return MultiPolygon(polys)


def _grid(rng: np.random.Generator, target: int) -> tuple[np.ndarray, np.ndarray]:
    """Road centre lines (x cuts west→east, y cuts south→north) of the block grid."""
    w, s, e, n = BOUNDS
    blocks = min(800, max(8, target // 5))  # 40 × 20 blocks of about 190 m for the full district
    ncol = max(4, round(float(np.sqrt(blocks * 2))))
    nrow = max(2, ncol // 2)
    return _cuts(rng, w, e, ncol), _cuts(rng, s, n, nrow)


def _nearest(points: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Index of the nearest seed of each point (lon scaled to metres like lat)."""
    k = _M_PER_DEG_LON / _M_PER_DEG_LAT
    d = ((points[:, None, 0] - seeds[None, :, 0]) * k) ** 2 + (points[:, None, 1] - seeds[None, :, 1]) ** 2
    return np.argmin(d, axis=1)  # type: ignore[no-any-return]


def _units(rng: np.random.Generator, xs: np.ndarray, ys: np.ndarray
           ) -> tuple[list[UnitRec], dict[tuple[int, int], UnitRec]]:
    """District, streets and communities as unions of grid blocks (boundaries follow roads).

    Returns:
        the units, and the community of each block (row, column).
    """
    w, s, e, n = BOUNDS
    extent = box(w, s, e, n)
    cols, rows = 5, 2
    pts = []
    for i in range(rows):
        for j in range(cols):
            x = w + (j + 0.5 + rng.uniform(-0.3, 0.3)) * (e - w) / cols
            y = n - (i + 0.5 + rng.uniform(-0.3, 0.3)) * (n - s) / rows
            pts.append((x, y))
    cells = {(i, j): box(xs[j], ys[i], xs[j + 1], ys[i + 1]) for i in range(len(ys) - 1) for j in range(len(xs) - 1)}
    keys = list(cells)
    centres = np.array([((xs[j] + xs[j + 1]) / 2, (ys[i] + ys[i + 1]) / 2) for i, j in keys])
    street_of = _nearest(centres, np.array(pts))
    units = [UnitRec(DISTRICT_CODE, "长宁区", "Changning District", "district", None, MultiPolygon([extent]))]
    comm_of: dict[tuple[int, int], UnitRec] = {}
    roots = list(_COMMUNITY_ROOTS)
    order = rng.permutation(len(roots))
    used = 0
    for si, (code, name, name_en) in enumerate(STREETS):
        mine = np.flatnonzero(street_of == si)
        if len(mine) == 0:  # a tiny grid: give the street the block nearest its seed
            mine = np.array([int(np.argmin(((centres - np.array(pts[si])) ** 2).sum(axis=1)))])
            street_of[mine] = si
        units.append(UnitRec(code, name, name_en, "street", DISTRICT_CODE,
                             _mp(shapely.union_all([cells[keys[b]] for b in mine]))))
        k = min(len(mine), int(rng.integers(3, 6)))
        seeds = centres[rng.choice(mine, size=k, replace=False)]
        which = _nearest(centres[mine], seeds)
        for m in range(k):
            blocks = mine[which == m]
            root = roots[order[used % len(roots)]] + ("" if used < len(roots) else str(used // len(roots) + 1))
            used += 1
            unit = UnitRec(f"{code}{m + 1:03d}", f"{root}居民区", None, "community", code,
                           _mp(shapely.union_all([cells[keys[b]] for b in blocks])))
            units.append(unit)
            comm_of.update({keys[b]: unit for b in blocks})
    return units, comm_of


def _zone(lon: float) -> str:
    return "west" if lon < 121.385 else ("middle" if lon < 121.415 else "east")


def _cuts(rng: np.random.Generator, lo: float, hi: float, n: int, jitter: float = 0.25) -> np.ndarray:
    step = (hi - lo) / n
    inner = lo + step * (np.arange(1, n) + rng.uniform(-jitter, jitter, n - 1))
    return np.concatenate([[lo], inner, [hi]])


def _parcels(rng: np.random.Generator, target: int, xs: np.ndarray, ys: np.ndarray,
             comm_of: dict[tuple[int, int], UnitRec]) -> list[ParcelRec]:
    """Each block (inside its road margins) cut into parcels; land use by zone."""
    ncol, nrow = len(xs) - 1, len(ys) - 1
    road = 7.0  # half road width, m
    gap = 1.0  # half gap between parcels, m
    rx, ry = road / _M_PER_DEG_LON, road / _M_PER_DEG_LAT
    gx, gy = gap / _M_PER_DEG_LON, gap / _M_PER_DEG_LAT
    per_block = target / (ncol * nrow) * 1.19  # industrial and green blocks hold fewer, larger parcels
    roads = list(_EW_ROADS)
    road_of_row = [roads[int(i)] for i in rng.choice(len(roads), nrow, replace=False)] if nrow <= len(roads) else \
        [roads[i % len(roads)] for i in range(nrow)]
    geoms: list[MultiPolygon] = []
    meta: list[tuple[int, str, UnitRec]] = []  # (block row, land use, community)
    for bi in range(nrow):
        for bj in range(ncol):
            x0, x1, y0, y1 = xs[bj] + rx, xs[bj + 1] - rx, ys[bi] + ry, ys[bi + 1] - ry
            use = LAND_USES[int(rng.choice(len(LAND_USES), p=_LAND_USE_P[_zone((x0 + x1) / 2)]))]
            k = max(1, int(rng.poisson(per_block)))
            if use in ("工业", "仓储", "绿地", "公共设施"):
                k = max(1, k // 3)
            nc = max(1, round(np.sqrt(k * (x1 - x0) * _M_PER_DEG_LON / ((y1 - y0) * _M_PER_DEG_LAT))))
            nr = max(1, round(k / nc))
            cx, cy = _cuts(rng, x0, x1, nc, 0.3), _cuts(rng, y0, y1, nr, 0.3)
            for b in range(nc):  # west → east, then south → north: the house-number order
                for a in range(nr):
                    geoms.append(MultiPolygon([box(cx[b] + gx, cy[a] + gy, cx[b + 1] - gx, cy[a + 1] - gy)]))
                    meta.append((bi, use, comm_of[(bi, bj)]))
    area = areas_m2(geoms)
    numbers: dict[int, int] = {}
    out: list[ParcelRec] = []
    for k in range(len(geoms)):
        bi, use, c = meta[k]
        num = numbers.get(bi, -1) + 2
        numbers[bi] = num
        rd = road_of_row[bi]
        addr = f"长宁区{rd}{num}号" if use != "住宅" or rng.random() < 0.3 else \
            f"长宁区{rd}{num}弄{int(rng.integers(1, 40))}号"
        out.append(ParcelRec(f"CN-P{k + 1:06d}", addr, use, c.parent_code or "", c.code, round(float(area[k]), 2),
                             geoms[k]))
    return out


def _records_zone(records: list[dict[str, Any]]) -> BaseGeometry | None:
    geoms = [shapely.geometry.shape(f["geometry"]) for f in records if f.get("geometry")]
    if not geoms:
        return None
    near = shapely.union_all([g.buffer(150.0 / _M_PER_DEG_LON) for g in geoms])  # one blob per sample area
    return shapely.union_all([part.convex_hull for part in getattr(near, "geoms", [near])])


# ----------------------------------------------------------------------------- items


class _Ctx:
    """Shared state while generating items: the random stream, the dates and the parcels."""

    def __init__(self, rng: np.random.Generator, today: date, parcels: list[ParcelRec],
                 reserved: BaseGeometry | None) -> None:
        self.rng = rng
        self.today = today
        self.start = today - timedelta(days=365)
        self.parcels = parcels
        cent = shapely.centroid(np.array([p.geom for p in parcels], dtype=object))
        self.cx = shapely.get_x(cent)
        ok = np.ones(len(parcels), dtype=bool)
        if reserved is not None:
            ok = ~shapely.intersects(reserved, np.array([p.geom for p in parcels], dtype=object))
        use_w = {u: w for u, (w, _) in _TYPES_BY_USE.items()}
        wts = np.array([use_w[p.land_use] for p in parcels]) * ok
        self.parcel_p = wts / wts.sum()
        self.ok = ok
        self.seq = {"stock": 0, "new": 0, "out": 0}

    def day_in_window(self, lo: date | None = None, hi: date | None = None) -> date:
        lo = lo or self.start
        hi = hi or (self.today - timedelta(days=1))
        day = lo + timedelta(days=int(self.rng.integers(0, max(1, (hi - lo).days + 1))))
        while day.weekday() >= 5:  # back to Friday: never past ``hi``
            day -= timedelta(days=1)
        return day

    def pick_parcels(self, n: int) -> np.ndarray:
        return self.rng.choice(len(self.parcels), size=n, replace=True, p=self.parcel_p)

    def vtype_for(self, parcel: ParcelRec, lon: float) -> str:
        types = _TYPES_BY_USE[parcel.land_use][1]
        if lon < _PIGEON_WEST_OF and parcel.land_use in ("住宅", "低密度住宅") and self.rng.random() < 0.12:
            return ViolationType.PIGEON_LOFT.value
        names = [t for t, _ in types]
        p = np.array([w for _, w in types])
        return str(names[int(self.rng.choice(len(names), p=p / p.sum()))])

    def footprint(self, parcel: ParcelRec, vtype: str) -> tuple[MultiPolygon, float]:
        lo, hi = _AREA_RANGE[vtype]
        want = float(np.exp(self.rng.uniform(np.log(lo), np.log(hi))))
        want = min(want, parcel.area_m2 * 0.6)
        aspect = self.rng.uniform(0.5, 2.0)
        wm, hm = np.sqrt(want * aspect), np.sqrt(want / aspect)
        minx, miny, maxx, maxy = parcel.geom.bounds
        dw, dh = wm / _M_PER_DEG_LON, hm / _M_PER_DEG_LAT
        for _ in range(6):
            x = self.rng.uniform(minx, max(minx, maxx - dw))
            y = self.rng.uniform(miny, max(miny, maxy - dh))
            g = _mp(box(x, y, x + dw, y + dh).intersection(parcel.geom))
            if not g.is_empty and g.area > 0.5 * dw * dh:
                break
        else:
            c = parcel.geom.representative_point()
            g = _mp(box(c.x - dw / 4, c.y - dh / 4, c.x + dw / 4, c.y + dh / 4).intersection(parcel.geom))
        return g, round(float(areas_m2([g])[0]), 2)

    def street_actor(self, parcel: ParcelRec) -> str:
        name = next((nm for code, nm, _ in STREETS if code == parcel.street_code), "街镇")
        return f"{name}执法中队"


def _chain(ctx: _Ctx, steps: list[str], last_day: date, gaps: list[tuple[int, int]], first: date) -> list[date]:
    """Days of ``steps`` ending on ``last_day``, going back by ``gaps`` (weekdays, strictly increasing)."""
    days = [last_day]
    for lo, hi in reversed(gaps):
        days.append(days[-1] - timedelta(days=int(ctx.rng.integers(lo, hi + 1))))
    days.reverse()
    days = [max(d, first) for d in days]
    fixed = [next_weekday(days[0])]
    for d in days[1:]:
        d = next_weekday(d)
        if d <= fixed[-1]:
            d = next_weekday(fixed[-1] + timedelta(days=1))
        fixed.append(d)
    limit = ctx.today - timedelta(days=1)
    if fixed[-1] > limit:
        weeks = ((fixed[-1] - limit).days + 6) // 7
        fixed = [d - timedelta(days=7 * weeks) for d in fixed]
    return fixed


_STOCK_STEPS: dict[str, list[str]] = {
    "confirmed": [],
    "case_filed": ["case_filed"],
    "demolished": ["case_filed", "demolished"],
    "closed_demolished": ["case_filed", "demolished", "closed"],
    "permit_granted": ["permit_granted"],
    "closed_permit": ["permit_granted", "closed"],
    "annotated": ["annotated"],
    "annotation_lifted": ["annotated", "annotation_lifted"],
    "closed_lifted": ["annotated", "annotation_lifted", "closed"],
    "regularised": ["regularised"],
    "closed_regularised": ["regularised", "closed"],
}
_GAPS: dict[str, tuple[int, int]] = {
    "case_filed": (20, 200), "demolished": (10, 120), "closed": (3, 30), "permit_granted": (30, 240),
    "annotated": (20, 200), "annotation_lifted": (30, 200), "regularised": (30, 200), "confirmed": (1, 3),
    "dismissed": (1, 4),
}
_REASONS = {
    "confirmed": "现场核查属实", "dismissed": "现场核查不属实", "case_filed": "立案查处",
    "demolished": "已拆除（自拆）",
    "closed": "销项", "permit_granted": "补办规划许可（补证）", "annotated": "产权登记注记，限制交易抵押",
    "annotation_lifted": "整改完成，解除注记", "regularised": "政策疏导，规范处置", "suspected": None,
}
_OFFICE_STEPS = {"closed", "annotated", "annotation_lifted", "permit_granted"}


def _events(ctx: _Ctx, parcel: ParcelRec, statuses: list[str], days: list[date], area: float,
            first_reason: str | None, first_by_office: bool = False) -> tuple[EventRec, ...]:
    out: list[EventRec] = []
    prev: str | None = None
    prev_at: datetime | None = None
    street_team = ctx.street_actor(parcel)
    for k, (st, day) in enumerate(zip(statuses, days, strict=False)):
        at = business_time(ctx.rng, day)
        if prev_at is not None and at <= prev_at:
            at = prev_at + timedelta(minutes=int(ctx.rng.integers(10, 90)))
        reason = first_reason if k == 0 else _REASONS[st]
        if st == "demolished" and ctx.rng.random() < 0.35:
            reason = "已拆除（强拆）"
        evidence: tuple[str, ...] = ()
        if st in ("demolished", "confirmed", "dismissed") and k > 0:
            evidence = (f"photo:{parcel.code}-{day:%Y%m%d}-{k}.jpg",)
        elif st == "permit_granted":
            evidence = (f"doc:补证-{parcel.code}-{day:%Y%m%d}.pdf",)
        actor = OFFICE if st in _OFFICE_STEPS or (k == 0 and first_by_office) else street_team
        out.append(EventRec(prev, st, at, actor, reason, evidence,
                            area if st in ("demolished", "permit_granted", "closed") else None))
        prev, prev_at = st, at
    return tuple(out)


def _stock(ctx: _Ctx, n: int) -> list[ViolationRec]:
    rng = ctx.rng
    names = [p for p, _ in _STOCK_PATHS]
    probs = np.array([w for _, w in _STOCK_PATHS])
    out: list[ViolationRec] = []
    for pi in ctx.pick_parcels(n):
        parcel = ctx.parcels[int(pi)]
        lon = float(ctx.cx[pi])
        vtype = ctx.vtype_for(parcel, lon)
        p = probs.copy()
        if vtype in ("villa", "pigeon_loft"):  # campaigns: demolished or registered
            p[names.index("closed_demolished")] *= 2.5
            p[names.index("annotated")] *= 1.8
        if vtype == "factory":
            p[names.index("closed_permit")] *= 1.5
        path = names[int(rng.choice(len(names), p=p / p.sum()))]
        steps = _STOCK_STEPS[path]
        if steps and steps[0] == "case_filed" and path != "case_filed" and rng.random() < 0.3:
            steps = steps[1:]  # handled without a formal case
        geom, area = ctx.footprint(parcel, vtype)
        statuses = ["confirmed", *steps]
        if steps:
            last = ctx.day_in_window()
            if path == "case_filed" and rng.random() < 0.5:
                last = ctx.start - timedelta(days=int(rng.integers(1, 900)))
            gaps = [_GAPS[s] for s in steps]
            body = _chain(ctx, steps, last, gaps[1:], date(2016, 1, 4))
            first = body[0] - timedelta(days=int(rng.integers(*_GAPS[steps[0]])))
            base_hi = min(first, ctx.start - timedelta(days=30))
        else:
            body = []
            base_hi = ctx.start - timedelta(days=30)
        base = date(2016, 1, 4) + timedelta(days=int(rng.integers(0, max(1, (base_hi - date(2016, 1, 4)).days))))
        base = next_weekday(base)
        days = [base, *body]
        for k in range(1, len(days)):
            if days[k] <= days[k - 1]:
                days[k] = next_weekday(days[k - 1] + timedelta(days=1))
        ctx.seq["stock"] += 1
        events = _events(ctx, parcel, statuses, days, area, "无证建筑数据库（库内）存量", True)
        out.append(ViolationRec(
            code=f"CN-KN-{ctx.seq['stock']:05d}", kind="stock", in_database=True, vtype=vtype,
            is_key=vtype in ("villa", "factory") or bool(rng.random() < 0.15), area_m2=area,
            address=parcel.address, street_code=parcel.street_code, parcel_code=parcel.code,
            source=DiscoverySource.DATABASE.value, discovered_at=events[0].at, geom=geom, events=events,
        ))
    return out


def _found_item(ctx: _Ctx, kind: str, source: str, code: str, plan: list[str], gaps: list[tuple[int, int]],
                pi: int | None = None, vtype: str | None = None, found: date | None = None,
                rebuilt_from: str | None = None) -> ViolationRec:
    """An item found during the year: suspected, then the planned steps up to yesterday."""
    rng = ctx.rng
    if pi is None:
        pi = int(ctx.pick_parcels(1)[0])
    parcel = ctx.parcels[pi]
    vtype = vtype or ctx.vtype_for(parcel, float(ctx.cx[pi]))
    if kind == "new" and vtype in ("villa", "factory") and rng.random() < 0.8:
        vtype = "shed"
    geom, area = ctx.footprint(parcel, vtype)
    found = found or ctx.day_in_window()
    days = [next_weekday(found)]
    for lo, hi in gaps:
        days.append(next_weekday(days[-1] + timedelta(days=int(rng.integers(lo, hi + 1)))))
    limit = ctx.today - timedelta(days=1)
    statuses = ["suspected", *plan]
    keep = [k for k, d in enumerate(days) if d <= limit] or [0]
    if days[0] > limit:
        days[0] = next_weekday(limit - timedelta(days=3))
    statuses, days = statuses[: len(keep)], days[: len(keep)]
    first = {"imagery": "影像比对发现疑似新增", "patrol": "巡查发现", "complaint": "12345诉件反映"}[source]
    events = _events(ctx, parcel, statuses, days, area, first, source == "imagery")
    return ViolationRec(
        code=code, kind=kind, in_database=False, vtype=vtype, is_key=bool(rng.random() < 0.1), area_m2=area,
        address=parcel.address, street_code=parcel.street_code, parcel_code=parcel.code, source=source,
        discovered_at=events[0].at, geom=geom, events=events, rebuilt_from_code=rebuilt_from,
    )


def _new_items(ctx: _Ctx, n: int) -> list[ViolationRec]:
    rng = ctx.rng
    out: list[ViolationRec] = []
    for _ in range(n):
        source = str(rng.choice(["imagery", "patrol", "complaint"], p=[0.55, 0.30, 0.15]))
        r = rng.random()
        if r < 0.25:
            plan, gaps = ["dismissed"], [(1, 4)]
        elif r < 0.93:  # dynamic zero growth: confirmed, removed within days, closed
            plan, gaps = ["confirmed", "demolished", "closed"], [(1, 3), (2, 15), (1, 10)]
        else:
            plan, gaps = ["confirmed", "case_filed", "demolished", "closed"], [(1, 3), (3, 10), (10, 40), (2, 10)]
        ctx.seq["new"] += 1
        found = ctx.day_in_window()
        code = f"CN-XZ-{found:%Y%m}-{ctx.seq['new']:04d}"
        out.append(_found_item(ctx, "new", source, code, plan, gaps, found=found))
    return out


def _outside_stock(ctx: _Ctx, n: int) -> list[ViolationRec]:
    rng = ctx.rng
    out: list[ViolationRec] = []
    for _ in range(n):
        source = str(rng.choice(["imagery", "patrol", "complaint"], p=[0.4, 0.4, 0.2]))
        plan = ["confirmed", "case_filed", "demolished", "closed"] if rng.random() < 0.6 else \
            ["confirmed", "case_filed"]
        gaps = [(1, 5), (5, 30), (10, 90), (3, 20)][: len(plan)]
        ctx.seq["out"] += 1
        out.append(_found_item(ctx, "stock", source, f"CN-KW-{ctx.seq['out']:04d}", plan, gaps))
    return out


def _rebuilt(ctx: _Ctx, items: list[ViolationRec], n: int) -> list[ViolationRec]:
    pcodes = {p.code: i for i, p in enumerate(ctx.parcels)}
    closed = [v for v in items if v.status == "closed" and v.events[-2].to_status == "demolished"
              and v.status_at.date() < ctx.today - timedelta(days=40)]
    out: list[ViolationRec] = []
    if not closed:
        return out
    for k, i in enumerate(ctx.rng.choice(len(closed), size=min(n, len(closed)), replace=False), 1):
        old = closed[int(i)]
        found = old.status_at.date() + timedelta(days=int(ctx.rng.integers(20, 40)))
        plan, gaps = ["confirmed", "demolished", "closed"], [(1, 3), (2, 10), (1, 7)]
        v = _found_item(ctx, "new", "imagery", f"CN-FT-{k:03d}", plan, gaps,
                        pi=pcodes[old.parcel_code or ""], vtype=old.vtype, found=found, rebuilt_from=old.code)
        out.append(replace(v, geom=old.geom, area_m2=old.area_m2, note=f"反弹：{old.code} 销项后重建"))
    return out


def _complaints(ctx: _Ctx, items: list[ViolationRec], n: int) -> list[ComplaintRec]:
    """12345 tickets in roughly the Putuo 2024 proportions (new 15 %, stock 85 %)."""
    rng = ctx.rng
    new_ok = [v for v in items if v.kind == "new" and v.status != "dismissed"]
    stock = [v for v in items if v.kind == "stock"]
    limit = ctx.today - timedelta(days=1)
    out: list[ComplaintRec] = []
    descr = {
        "rooftop": "楼顶违法加层", "courtyard": "天井搭建", "shed": "违法搭建棚房", "villa": "别墅违法扩建",
        "factory": "厂房违法搭建", "pigeon_loft": "屋顶鸽棚", "shopfront": "沿街商铺违法搭建", "other": "违法搭建",
    }
    for k in range(n):
        about = "new" if rng.random() < 0.15 else "stock"
        r = rng.random()
        if about == "new":
            verdict, keyed = ("untrue", True) if r < 0.58 else ("true", True)
        else:
            verdict, keyed = ("untrue", True) if r < 0.387 else (("true", False) if r < 0.527 else ("true", True))
        item: ViolationRec | None = None
        if verdict == "true" and about == "new" and new_ok:
            item = new_ok[int(rng.integers(len(new_ok)))]
            received = next_weekday(item.discovered_at.date() - timedelta(days=int(rng.integers(0, 3))))
        else:
            if verdict == "true" and stock:
                item = stock[int(rng.integers(len(stock)))]
            received = ctx.day_in_window()
        at = datetime.combine(received, time(0), TZ) + timedelta(minutes=int(rng.integers(7 * 60, 22 * 60)))
        if item is not None:
            c = item.geom.representative_point()
            geom, addr, street = c, item.address, item.street_code
            vtype = item.vtype
        else:
            parcel = ctx.parcels[int(rng.integers(len(ctx.parcels)))]
            geom, addr, street = parcel.geom.representative_point(), parcel.address, parcel.street_code
            vtype = str(rng.choice(list(descr)))
        verified = datetime.combine(next_weekday(received + timedelta(days=int(rng.integers(1, 6)))), time(0), TZ) \
            + timedelta(minutes=int(rng.integers(9 * 60, 17 * 60 + 30)))
        pending = verified.date() > limit
        explained = resolved = None
        if not pending and verdict == "true" and not keyed:
            explained = verified + timedelta(days=int(rng.integers(1, 6)))
        elif not pending and verdict == "true":
            quick = about == "new" or rng.random() < 0.95
            done = verified + timedelta(days=int(rng.integers(3, 15 if about == "new" else 45)))
            if quick and done.date() <= limit:
                resolved = done
        if explained is not None and explained.date() > limit:
            explained = None
        out.append(ComplaintRec(
            ticket_no=f"{received:%Y%m%d}{k + 1:05d}", received_at=at, about=about,
            description=f"市民反映{addr or ''}{descr[vtype]}", address=addr, street_code=street,
            violation_code=item.code if item is not None and verdict == "true" and not pending else None,
            is_key=keyed, verdict="pending" if pending else verdict,
            verified_at=None if pending else verified, explained_at=explained, resolved_at=resolved, geom=geom,
        ))
    return out


def _sorties(ctx: _Ctx, streets: list[UnitRec], n: int, n_pilots: int) -> list[SortieRec]:
    rng = ctx.rng
    pilots = [f"{_SURNAMES[int(rng.integers(len(_SURNAMES)))]}{_GIVEN[int(rng.integers(len(_GIVEN)))]}"
              for _ in range(n_pilots)]
    drones = ["DJI M300 RTK-01", "DJI M300 RTK-02", "DJI M350 RTK-01", "DJI Mavic 3E-01", "DJI Mavic 3E-02"]
    tasks = ["新增违建动态监测", "热点区域巡查", "拆除复核", "12345诉件核查", "别墅区专项巡查"]
    days = sorted(ctx.day_in_window() for _ in range(n))
    out: list[SortieRec] = []
    for k, day in enumerate(days, 1):
        st = streets[int(rng.integers(len(streets)))]
        minx, miny, maxx, maxy = st.geom.bounds
        while True:
            p = Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
            if st.geom.contains(p):
                break
        half_w, half_h = rng.uniform(200, 450) / _M_PER_DEG_LON, rng.uniform(200, 450) / _M_PER_DEG_LAT
        area = _mp(box(p.x - half_w, p.y - half_h, p.x + half_w, p.y + half_h).intersection(st.geom))
        out.append(SortieRec(f"CN-UAV-{day:%Y%m%d}-{k:04d}", pilots[int(rng.integers(len(pilots)))],
                             drones[int(rng.integers(len(drones)))], business_time(rng, day),
                             f"{st.name}{tasks[int(rng.integers(len(tasks)))]}", st.code, area))
    return out


def _permits(ctx: _Ctx, items: list[ViolationRec], n: int) -> list[PermitRec]:
    """Building permits on parcels, and one for every item legalised (补证)."""
    rng = ctx.rng
    out: list[PermitRec] = []
    holders = ("上海长宁房地产开发有限公司", "上海虹桥实业有限公司", "上海新泾物业管理有限公司", "长宁区房管所",
               "上海华阳商贸有限公司", "上海天山置业有限公司")
    candidates = np.flatnonzero(ctx.ok)
    for k, pi in enumerate(rng.choice(candidates, size=min(n, len(candidates)), replace=False), 1):
        parcel = ctx.parcels[int(pi)]
        c = parcel.geom.centroid
        minx, miny, maxx, maxy = parcel.geom.bounds
        f = rng.uniform(0.3, 0.45)
        fp = _mp(box(c.x - (maxx - minx) * f, c.y - (maxy - miny) * f, c.x + (maxx - minx) * f,
                     c.y + (maxy - miny) * f).intersection(parcel.geom))
        if fp.is_empty:
            continue
        year = int(rng.integers(1995, ctx.today.year + 1))
        issued = datetime.combine(date(year, 1, 1) + timedelta(days=int(rng.integers(0, 365))), time(10), TZ)
        if issued.date() >= ctx.today:
            issued = datetime.combine(ctx.today - timedelta(days=30), time(10), TZ)
        holder = holders[int(rng.integers(len(holders)))] if parcel.land_use != "住宅" else \
            f"{_SURNAMES[int(rng.integers(len(_SURNAMES)))]}{_GIVEN[int(rng.integers(len(_GIVEN)))]}"
        out.append(PermitRec(f"沪长规建({issued.year})第{k:05d}号", holder, issued, parcel.code,
                             parcel.street_code, fp))
    m = 0
    for v in items:
        granted = next((e for e in v.events if e.to_status == "permit_granted"), None)
        if granted is None:
            continue
        m += 1
        out.append(PermitRec(f"沪长补证({granted.at.year})第{m:05d}号", "补证业主", granted.at, v.parcel_code,
                             v.street_code, v.geom))
    return out


def _split_exact(total: float, shares: list[float], digits: int) -> list[float]:
    parts = [round(total * s, digits) for s in shares]
    parts[-1] = round(total - sum(parts[:-1]), digits)
    return parts


# ----------------------------------------------------------------------------- sample records


def records_to_items(records: list[dict[str, Any]], streets: list[UnitRec], parcels: list[ParcelRec],
                     today: date) -> tuple[list[ViolationRec], list[PermitRec]]:
    """The sample imagery's known violations and permits as records.

    Each violation gets the shortest event chain to its ``status``, on weekdays ending
    about a month before ``today``. Streets and parcels are found by location.
    """
    viol: list[ViolationRec] = []
    perm: list[PermitRec] = []
    parr = np.array([p.geom for p in parcels], dtype=object)
    tree = shapely.STRtree(parr) if len(parr) else None
    for i, f in enumerate(records, 1):
        props = f.get("properties") or {}
        geom = _mp(shapely.geometry.shape(f["geometry"]))
        pt = geom.representative_point()
        street = next((s.code for s in streets if s.geom.covers(pt)), None)
        parcel: ParcelRec | None = None
        if tree is not None:
            hits = tree.query(pt, predicate="within")
            if len(hits):
                parcel = parcels[int(hits[0])]
        if props.get("record") == "permit":
            issued = _parse_day(props.get("issued_at"))
            perm.append(PermitRec(str(props.get("permit_no") or f"SAMPLE-PERMIT-{i:03d}"),
                                  str(props.get("holder") or ""),
                                  datetime.combine(issued, time(10), TZ) if issued else None,
                                  parcel.code if parcel else None, street, geom))
            continue
        if props.get("record") != "violation":
            continue
        kind = str(props.get("kind") or "stock")
        in_db = bool(props.get("in_database", kind == "stock"))
        target = Status(str(props.get("status") or "confirmed"))
        start = Status.CONFIRMED if in_db else Status.SUSPECTED
        path = workflow.status_path(target, start)
        found = _parse_day(props.get("discovered_at")) or (today - timedelta(days=300))
        end = today - timedelta(days=30)
        days = [next_weekday(found)]
        step = max(1, (end - found).days // max(1, len(path)))
        for _ in path[1:]:
            days.append(next_weekday(days[-1] + timedelta(days=step)))
        at = [datetime.combine(d, time(10, 30), TZ) for d in days]
        area = float(props.get("area_m2") or areas_m2([geom])[0])
        events = tuple(
            EventRec(None if k == 0 else path[k - 1].value, s.value, at[k], OFFICE,
                     "样例影像已知记录" if k == 0 else _REASONS.get(s.value), (),
                     area if s.value in ("demolished", "permit_granted", "closed") else None)
            for k, s in enumerate(path)
        )
        viol.append(ViolationRec(
            code=str(props.get("code") or f"CN-SAMPLE-{i:03d}"), kind=kind, in_database=in_db,
            vtype=str(props.get("vtype") or "other"), is_key=bool(props.get("is_key", False)),
            area_m2=round(area, 2), address=parcel.address if parcel else None, street_code=street,
            parcel_code=parcel.code if parcel else None,
            source=str(props.get("source") or ("database" if in_db else "patrol")), discovered_at=at[0],
            geom=geom, events=events, note=props.get("note"),
        ))
    return viol, perm


def _parse_day(value: Any) -> date | None:
    if not value:
        return None
    return date.fromisoformat(str(value)[:10])
