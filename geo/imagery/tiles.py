"""XYZ map tiles (Web Mercator, 256 px) rendered from stored COGs with rio-tiler.

Any source CRS works: rio-tiler reads each tile through a warped view of the COG (choosing
the overview that fits the zoom), so scenes in CGCS2000 Gauss-Krüger (EPSG:4549), UTM 51N
(EPSG:32651) or anything else land in the right place.

Empty tiles: a tile outside a scene's footprint, or one with no valid pixel, is the constant
transparent 256 × 256 PNG :data:`EMPTY_PNG` (never an error, so map clients show nothing and
log nothing). Pixels outside the footprint inside a partly covered tile are transparent.

Open datasets are cached per thread (GDAL handles are not thread-safe). A warm tile costs
one decimated window read (GDAL picks the overview), one affine warp with OpenCV and one
PNG/WebP encoding; within a 256 px tile the map from Web Mercator to the source grid is
affine to far below a pixel at the zooms imagery is viewed at, and the fit is checked on a
5 × 5 grid: where it is not good enough (very low zooms) rio-tiler's full GDAL warp is used.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.windows import Window
from rio_tiler.errors import TileOutsideBounds
from rio_tiler.io import Reader
from rio_tiler.models import ImageData

from geo.imagery.validate import GDAL_ENV

TILE_SIZE = 256
FORMATS = {"png": ("PNG", "image/png"), "webp": ("WEBP", "image/webp")}
#: GDAL settings of tile reading: a bounded block cache, no sidecar look-ups.
TILE_ENV: dict[str, Any] = {**GDAL_ENV, "GDAL_CACHEMAX": 256, "VSI_CACHE": True}
_OPEN_PER_THREAD = 32


def _empty_png() -> bytes:
    img = ImageData(np.zeros((3, TILE_SIZE, TILE_SIZE), dtype="uint8"))
    img.array.mask = True
    return img.render(img_format="PNG", add_mask=True)


EMPTY_PNG: bytes = _empty_png()


@dataclass(frozen=True)
class TileRequest:
    """One tile: Web Mercator z/x/y and an output format (``png`` or ``webp``)."""

    z: int
    x: int
    y: int
    fmt: str = "png"

    def valid(self) -> bool:
        """Whether z/x/y name a real tile and the format is known."""
        n = 1 << self.z if 0 <= self.z <= 30 else 0
        return n > 0 and 0 <= self.x < n and 0 <= self.y < n and self.fmt in FORMATS


_SHIFT_STEPS = ("helmert", "gridshift", "molodensky", "deformation", "xyzgridshift", "vgridshift", "tinshift")


@lru_cache(maxsize=64)
def fast_crs(wkt: str) -> str | None:
    """A PROJ string equivalent to ``wkt`` that GDAL turns into a transformer quickly, or None.

    Creating a GDAL transformer from CGCS2000 (EPSG:4549) to Web Mercator costs 50–100 ms,
    spent searching PROJ's database for datum operations, although the one chosen is a null
    shift (CGCS2000 and WGS 84 agree to a few cm). When the operation to WGS 84 has no datum
    shift step, the same projection on the same ellipsoid with ``+towgs84=0`` gives identical
    coordinates and costs well under 1 ms; every tile read creates such a transformer.
    """
    import warnings

    from pyproj import CRS, Transformer

    try:
        crs = CRS.from_wkt(wkt)
        if not crs.is_projected or crs.to_epsg() == 3857:
            return None
        definition = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).definition
        if any(step in definition for step in _SHIFT_STEPS):
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p4 = crs.to_proj4()
    except Exception:
        return None
    if not p4 or "+proj=" not in p4 or "&" in p4:
        return None
    p4 = p4.replace(" +type=crs", "")
    return p4 if "+towgs84" in p4 else p4 + " +towgs84=0,0,0,0,0,0,0"


def open_for_tiles(path: str) -> Any:
    """Open a COG for tile reading, with its CRS swapped for :func:`fast_crs` when possible."""
    with rasterio.Env(**TILE_ENV):
        ds = rasterio.open(path)
        twin = fast_crs(ds.crs.to_wkt()) if ds.crs else None
        if twin is None or "?" in path or "&" in path:
            return ds
        ds.close()
        return rasterio.open(f"vrt://{path}?a_srs={twin}")


@lru_cache(maxsize=256)
def _rescale_range(path: str) -> tuple[float, float]:
    """For 16-bit scenes, the 2–98 % stretch from the smallest overview (cached per file)."""
    with rasterio.Env(**TILE_ENV), rasterio.open(path) as ds:
        ovr = ds.overviews(1)
        factor = ovr[-1] if ovr else max(1, max(ds.width, ds.height) // 1024)
        arr = ds.read(indexes=[1, 2, 3], out_shape=(3, max(1, ds.height // factor), max(1, ds.width // factor)),
                      masked=True)
    vals = arr.compressed()
    if vals.size == 0:
        return (0.0, 65535.0)
    lo, hi = np.percentile(vals, [2, 98])
    return (float(lo), float(max(hi, lo + 1)))


@lru_cache(maxsize=1)
def _web_mercator() -> Any:
    """The Web Mercator tile matrix set (``morecantile.tms.get`` deep-copies it on every call)."""
    import morecantile

    return morecantile.tms.get("WebMercatorQuad")


class _Source:
    """An open scene and what the fast path needs to read tiles from it (one per thread)."""

    def __init__(self, path: str) -> None:
        import cv2
        from pyproj import Transformer

        cv2.setNumThreads(1)  # request threads already run in parallel; OpenCV's pool would spin
        with rasterio.Env(**TILE_ENV):
            self.ds = rasterio.open(path)
        ds = self.ds
        self.path = path
        self.inverse = ~ds.transform
        self.to_src = Transformer.from_crs("EPSG:3857", ds.crs, always_xy=True) if ds.crs else None
        ci = list(ds.colorinterp)
        alpha = rasterio.enums.ColorInterp.alpha
        self.alpha = ci.index(alpha) + 1 if alpha in ci else None
        self.colour = [i for i in range(1, ds.count + 1) if i != self.alpha][:3]
        self.nodata = ds.nodata
        self.internal_mask = self.alpha is None and all(
            rasterio.enums.MaskFlags.per_dataset in f for f in ds.mask_flag_enums)
        self.factors = ds.overviews(1) if ds.count else []
        self._levels: dict[int, Any] = {1: ds}
        self._twin: Any = None

    def level(self, scale: float) -> tuple[int, Any]:
        """The coarsest overview no coarser than ``scale`` source px per tile px, opened as a dataset.

        Reading an overview's own pixels (no decimation inside GDAL) keeps concurrent
        requests apart: decimated ``RasterIO`` calls from several threads were seen to stall.
        """
        factor = max([f for f in self.factors if f <= scale], default=1)
        if factor not in self._levels:
            with rasterio.Env(**TILE_ENV):
                self._levels[factor] = rasterio.open(self.path, overview_level=self.factors.index(factor))
        return factor, self._levels[factor]

    def twin(self) -> Any:
        """The dataset opened for rio-tiler (CRS swapped for :func:`fast_crs`)."""
        if self._twin is None:
            self._twin = open_for_tiles(self.path)
        return self._twin

    def close(self) -> None:
        for level in self._levels.values():
            level.close()
        if self._twin is not None:
            self._twin.close()


class _SourceCache(threading.local):
    def __init__(self) -> None:
        self.open: OrderedDict[str, _Source] = OrderedDict()

    def get(self, path: str) -> _Source:
        src = self.open.get(path)
        if src is not None:
            self.open.move_to_end(path)
            return src
        src = _Source(path)
        self.open[path] = src
        while len(self.open) > _OPEN_PER_THREAD:
            _, old = self.open.popitem(last=False)
            old.close()
        return src


_cache = _SourceCache()
_GRID = np.linspace(0, TILE_SIZE, 5)
_OUT_COLS, _OUT_ROWS = np.meshgrid(_GRID, _GRID)
_OUT = np.column_stack([_OUT_COLS.ravel(), _OUT_ROWS.ravel(), np.ones(_OUT_COLS.size)])

#: (pixels HxWx3, validity mask HxW uint8 0/255), or None when the tile misses the scene.
Pixels = tuple[np.ndarray, np.ndarray]


def _fast_read(src: _Source, tile: TileRequest) -> Pixels | bool | None:
    """Read a tile with one decimated window read and one affine warp (OpenCV).

    Within one 256 px tile the map from Web Mercator pixels to source pixels is affine to
    well under a pixel at the zooms imagery is viewed at; the fit's residual is checked and
    ``False`` is returned when it is not (the caller falls back to rio-tiler's full warp).
    """
    import cv2
    import morecantile

    ds = src.ds
    if src.to_src is None:
        return False
    b = _web_mercator().xy_bounds(morecantile.Tile(tile.x, tile.y, tile.z))
    mx = b.left + _OUT[:, 0] / TILE_SIZE * (b.right - b.left)
    my = b.top - _OUT[:, 1] / TILE_SIZE * (b.top - b.bottom)
    sx, sy = src.to_src.transform(mx, my)
    inv = src.inverse
    cols = inv.a * np.asarray(sx) + inv.b * np.asarray(sy) + inv.c
    rows = inv.d * np.asarray(sx) + inv.e * np.asarray(sy) + inv.f
    if not (np.all(np.isfinite(cols)) and np.all(np.isfinite(rows))):
        return False
    # The affine map through three corners (no LAPACK: BLAS thread pools spin when several
    # request threads call it at once), checked against the whole 5 x 5 grid.
    i00, i40, i04 = 0, 4, 20  # grid points (0, 0), (256, 0), (0, 256)
    ax = np.array([(cols[i40] - cols[i00]) / TILE_SIZE, (cols[i04] - cols[i00]) / TILE_SIZE, cols[i00]])
    ay = np.array([(rows[i40] - rows[i00]) / TILE_SIZE, (rows[i04] - rows[i00]) / TILE_SIZE, rows[i00]])
    fit_c = _OUT[:, 0] * ax[0] + _OUT[:, 1] * ax[1] + ax[2]
    fit_r = _OUT[:, 0] * ay[0] + _OUT[:, 1] * ay[1] + ay[2]
    scale = float(np.sqrt(abs(ax[0] * ay[1] - ax[1] * ay[0])))
    resid = float(np.max(np.hypot(fit_c - cols, fit_r - rows)))
    if resid > 0.5 * max(scale, 1.0):
        return False
    _factor, lds = src.level(scale)
    kx, ky = lds.width / ds.width, lds.height / ds.height  # base pixels → overview pixels
    c0, c1 = max(float(cols.min()) * kx, 0.0), min(float(cols.max()) * kx, float(lds.width))
    r0, r1 = max(float(rows.min()) * ky, 0.0), min(float(rows.max()) * ky, float(lds.height))
    if c1 - c0 <= 0 or r1 - r0 <= 0:
        return None
    ic0, ir0 = int(np.floor(c0)), int(np.floor(r0))
    ic1, ir1 = int(np.ceil(c1)), int(np.ceil(r1))
    window = Window(ic0, ir0, ic1 - ic0, ir1 - ir0)
    indexes = src.colour + ([src.alpha] if src.alpha else [])
    data = lds.read(indexes=indexes, window=window)
    if src.alpha:
        mask = np.where(data[-1] > 0, 255, 0).astype(np.uint8)
        data = data[:-1]
    elif src.internal_mask:
        mask = lds.read_masks(1, window=window)
    elif src.nodata is not None:
        mask = np.where(np.any(data != src.nodata, axis=0), 255, 0).astype(np.uint8)
    else:
        mask = np.full(data.shape[1:], 255, np.uint8)
    # output pixel (x, y) centre → buffer pixel centre (OpenCV's convention)
    m = np.array([[ax[0] * kx, ax[1] * kx, ax[2] * kx - ic0],
                  [ay[0] * ky, ay[1] * ky, ay[2] * ky - ir0]])
    m[:, 2] += 0.5 * m[:, 0] + 0.5 * m[:, 1] - 0.5
    flags = cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP
    img = cv2.warpAffine(np.ascontiguousarray(np.moveaxis(data, 0, -1)), m, (TILE_SIZE, TILE_SIZE), flags=flags,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    valid = cv2.warpAffine(mask, m, (TILE_SIZE, TILE_SIZE), flags=flags, borderMode=cv2.BORDER_CONSTANT,
                           borderValue=0)
    if img.ndim == 2:
        img = img[..., None]
    return img, valid


def _rio_tiler_read(src: _Source, tile: TileRequest) -> Pixels | None:
    ds = src.twin()
    try:
        with Reader(src.path, dataset=ds) as r:
            img = r.tile(tile.x, tile.y, tile.z, tilesize=TILE_SIZE, indexes=tuple(src.colour))
    except TileOutsideBounds:
        return None
    return np.ascontiguousarray(np.moveaxis(img.data, 0, -1)), img.mask.astype(np.uint8)


def read_tile(path: Path | str, tile: TileRequest) -> Pixels | None:
    """The pixels and validity mask of one tile of a scene, or None when the tile misses it."""
    src = _cache.get(str(path))
    got = _fast_read(src, tile)
    if got is False:
        return _rio_tiler_read(src, tile)
    return got  # type: ignore[return-value]


def _encode(img: np.ndarray, mask: np.ndarray, path: str | None, fmt: str) -> bytes:
    import cv2

    if not mask.any():
        return EMPTY_PNG
    if img.dtype != np.uint8:
        lo, hi = _rescale_range(path) if path else (0.0, 65535.0)
        img = np.clip((img.astype(np.float32) - lo) * (255.0 / (hi - lo)), 0, 255).astype(np.uint8)
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    bgra = np.dstack([img[..., 2], img[..., 1], img[..., 0], mask])
    if fmt == "webp":
        ok, buf = cv2.imencode(".webp", bgra, [cv2.IMWRITE_WEBP_QUALITY, 85])
    else:
        # Huffman-only: for photographs as small as full deflate, in a third less CPU
        ok, buf = cv2.imencode(".png", bgra, [cv2.IMWRITE_PNG_COMPRESSION, 1,
                                              cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY])
    if not ok:
        raise RuntimeError(f"cannot encode a {fmt} tile")
    return bytes(buf)


def scene_tile(path: Path, tile: TileRequest) -> bytes:
    """The tile of one stored scene (``EMPTY_PNG`` outside its footprint).

    Raises:
        ValueError: z/x/y or the format is invalid.
    """
    if not tile.valid():
        raise ValueError(f"no such tile {tile.z}/{tile.x}/{tile.y}.{tile.fmt}")
    got = read_tile(path, tile)
    if got is None:
        return EMPTY_PNG
    return _encode(got[0], got[1], str(path), tile.fmt)


def mosaic_tile(paths: Sequence[Path], tile: TileRequest) -> bytes:
    """The tile of a mosaic: each pixel from the first path that has it (pass the newest first).

    Raises:
        ValueError: z/x/y or the format is invalid.
    """
    if not tile.valid():
        raise ValueError(f"no such tile {tile.z}/{tile.x}/{tile.y}.{tile.fmt}")
    out: np.ndarray | None = None
    out_mask = np.zeros((TILE_SIZE, TILE_SIZE), np.uint8)
    first: str | None = None
    for p in paths:
        try:
            got = read_tile(p, tile)
        except rasterio.errors.RasterioIOError:
            continue  # a scene whose file is missing must not blank the whole mosaic
        if got is None:
            continue
        img, mask = got
        if out is None:
            out, first = np.zeros_like(img), str(p)
        if img.dtype != out.dtype or img.shape[2] != out.shape[2]:
            continue  # mixed 8/16-bit or band counts: the newest kind wins
        fill = (out_mask == 0) & (mask > 0)
        out[fill] = img[fill]
        out_mask[fill] = 255
        if out_mask.all():
            break
    if out is None:
        return EMPTY_PNG
    return _encode(out, out_mask, first, tile.fmt)


def tile_bounds_wgs84(tile: TileRequest) -> tuple[float, float, float, float]:
    """(west, south, east, north) of a Web Mercator tile in degrees."""
    import morecantile

    b = _web_mercator().bounds(morecantile.Tile(tile.x, tile.y, tile.z))
    return (b.left, b.bottom, b.right, b.top)
