"""XYZ map tiles (Web Mercator, 256 px) rendered from stored COGs with rio-tiler.

Any source CRS works: rio-tiler reads each tile through a warped view of the COG (choosing
the overview that fits the zoom), so scenes in CGCS2000 Gauss-Krüger (EPSG:4549), UTM 51N
(EPSG:32651) or anything else land in the right place.

Empty tiles: a tile outside a scene's footprint, or one with no valid pixel, is the constant
transparent 256 × 256 PNG :data:`EMPTY_PNG` (never an error, so map clients show nothing and
log nothing). Pixels outside the footprint inside a partly covered tile are transparent.

Open datasets are cached per thread (GDAL handles are not thread-safe): a warm tile costs
one windowed read and one PNG encoding.
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
from rio_tiler.errors import EmptyMosaicError, TileOutsideBounds
from rio_tiler.io import Reader
from rio_tiler.models import ImageData
from rio_tiler.mosaic import mosaic_reader

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


class _DatasetCache(threading.local):
    def __init__(self) -> None:
        self.open: OrderedDict[str, Any] = OrderedDict()

    def get(self, path: str) -> Any:
        ds = self.open.get(path)
        if ds is not None and not ds.closed:
            self.open.move_to_end(path)
            return ds
        ds = open_for_tiles(path)
        self.open[path] = ds
        while len(self.open) > _OPEN_PER_THREAD:
            _, old = self.open.popitem(last=False)
            old.close()
        return ds


_cache = _DatasetCache()


@lru_cache(maxsize=256)
def _rescale_range(path: str) -> tuple[float, float] | None:
    """For 16-bit scenes, the 2–98 % stretch from the smallest overview (cached per file)."""
    ds = _cache.get(path)
    if ds.dtypes[0] == "uint8":
        return None
    ovr = ds.overviews(1)
    factor = ovr[-1] if ovr else max(1, max(ds.width, ds.height) // 1024)
    arr = ds.read(indexes=[1, 2, 3], out_shape=(3, max(1, ds.height // factor), max(1, ds.width // factor)),
                  masked=True)
    vals = arr.compressed()
    if vals.size == 0:
        return (0.0, 65535.0)
    lo, hi = np.percentile(vals, [2, 98])
    return (float(lo), float(max(hi, lo + 1)))


def _read(path: str, x: int, y: int, z: int, **_: Any) -> ImageData:
    ds = _cache.get(path)
    with Reader(path, dataset=ds) as r:
        return r.tile(x, y, z, tilesize=TILE_SIZE, indexes=(1, 2, 3))


def _encode(img: ImageData, path: str | None, fmt: str) -> bytes:
    if not img.mask.any():
        return EMPTY_PNG
    if img.array.dtype != np.uint8:
        rng = _rescale_range(path) if path else None
        img = img.rescale(in_range=(rng or (0.0, 65535.0),))
    driver, _ = FORMATS[fmt]
    options: dict[str, Any] = {"ZLEVEL": 2} if driver == "PNG" else {}
    return img.render(img_format=driver, add_mask=True, **options)


def scene_tile(path: Path, tile: TileRequest) -> bytes:
    """The tile of one stored scene (``EMPTY_PNG`` outside its footprint).

    Raises:
        ValueError: z/x/y or the format is invalid.
    """
    if not tile.valid():
        raise ValueError(f"no such tile {tile.z}/{tile.x}/{tile.y}.{tile.fmt}")
    try:
        img = _read(str(path), tile.x, tile.y, tile.z)
    except TileOutsideBounds:
        return EMPTY_PNG
    return _encode(img, str(path), tile.fmt)


def mosaic_tile(paths: Sequence[Path], tile: TileRequest) -> bytes:
    """The tile of a mosaic: the first path with a valid pixel wins (pass the newest first).

    Raises:
        ValueError: z/x/y or the format is invalid.
    """
    if not tile.valid():
        raise ValueError(f"no such tile {tile.z}/{tile.x}/{tile.y}.{tile.fmt}")
    if not paths:
        return EMPTY_PNG
    try:
        img, used = mosaic_reader([str(p) for p in paths], _read, tile.x, tile.y, tile.z, threads=0)
    except EmptyMosaicError:
        return EMPTY_PNG
    return _encode(img, used[0] if used else None, tile.fmt)


def tile_bounds_wgs84(tile: TileRequest) -> tuple[float, float, float, float]:
    """(west, south, east, north) of a Web Mercator tile in degrees."""
    import morecantile

    b = morecantile.tms.get("WebMercatorQuad").bounds(morecantile.Tile(tile.x, tile.y, tile.z))
    return (b.left, b.bottom, b.right, b.top)
