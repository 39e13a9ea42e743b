"""The one module that opens raster files (GeoTIFF windows; PNG/JPEG through GDAL), with
:mod:`detection.tiff_blocks` for the pixels of uncompressed 8-bit GeoTIFFs.

Plain images without georeferencing get ``crs=None`` and the identity transform, so their
polygons come out in pixel coordinates (x = column, y = row).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.windows import Window, from_bounds
from rasterio.windows import transform as window_transform

from detection import tiff_blocks
from detection.errors import TileReadError, TileWriteError
from detection.types import ImageData


@dataclass(frozen=True)
class RasterInfo:
    """What a raster file holds, without its pixels."""

    path: str
    width: int
    height: int
    count: int
    dtype: str
    transform: Affine
    crs: str | None
    nodata: float | None

    @property
    def pixel_size(self) -> float | None:
        """Ground size of a pixel (CRS units), None without CRS."""
        if self.crs is None:
            return None
        return float((abs(self.transform.a) * abs(self.transform.e)) ** 0.5)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(left, bottom, right, top)`` in CRS units (pixel units without CRS)."""
        t = self.transform
        xs = [t.c, t.c + t.a * self.width]
        ys = [t.f, t.f + t.e * self.height]
        return (min(xs), min(ys), max(xs), max(ys))


@contextmanager
def _open(path: str | os.PathLike[str]) -> Iterator[rasterio.io.DatasetReader]:
    p = Path(path)
    if not p.exists():
        raise TileReadError(f"{p}: 文件不存在 / file not found")
    if p.is_dir():
        raise TileReadError(f"{p}: 是目录 / is a directory, not an image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(p) as ds:
                yield ds
    except RasterioIOError as exc:
        raise TileReadError(f"{p}: 无法读取影像 / not a readable image ({exc})") from exc


def _crs_of(ds: rasterio.io.DatasetReader) -> str | None:
    if ds.crs is None:
        return None
    epsg = ds.crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else ds.crs.to_wkt()


def info(path: str | os.PathLike[str]) -> RasterInfo:
    """Read the metadata of a raster.

    Raises:
        TileReadError: missing, unreadable or empty file.
    """
    with _open(path) as ds:
        crs = _crs_of(ds)
        transform = ds.transform if crs is not None else Affine.identity()
        if ds.width == 0 or ds.height == 0:
            raise TileReadError(f"{path}: 影像为空 / image has no pixels")
        return RasterInfo(str(path), ds.width, ds.height, ds.count, ds.dtypes[0], transform, crs, ds.nodata)


def _rgb_bands(count: int) -> list[int]:
    return [1, 2, 3] if count >= 3 else [1]


def read_window(path: str | os.PathLike[str], window: Window | None = None, boundless: bool = False) -> ImageData:
    """Read a window (default the whole raster): RGB bands (or the single band) and validity.

    Args:
        path: raster file.
        window: pixel window; may extend beyond the raster when ``boundless``.
        boundless: fill outside pixels with 0 and mark them invalid.

    Returns:
        :class:`ImageData` located at the window.

    Raises:
        TileReadError: the file cannot be read.
    """
    with _open(path) as ds:
        crs = _crs_of(ds)
        base = ds.transform if crs is not None else Affine.identity()
        win = window or Window(0, 0, ds.width, ds.height)
        bands = _rgb_bands(ds.count)
        try:
            arr = ds.read(bands, window=win, boundless=boundless, fill_value=0)
            if _has_mask(ds):
                valid = ds.read_masks(1, window=win, boundless=boundless) > 0
            elif boundless:
                valid = _inside(win, ds.width, ds.height)
            else:
                valid = None
        except (RasterioIOError, ValueError) as exc:
            raise TileReadError(f"{path}: 读取窗口失败 / cannot read window {win} ({exc})") from exc
        return ImageData(arr, window_transform(win, base), crs, valid)


@contextmanager
def opened(path: str | os.PathLike[str]) -> Iterator[rasterio.io.DatasetReader]:
    """An open raster, for several reads from one file.

    GDAL reads uncompressed GeoTIFFs through a memory map (several times faster than through its
    block cache; the pages are released when the file is closed); :func:`read_rgb8` copies their
    8-bit RGB windows from a mapping kept per process instead (faster still).

    Raises:
        TileReadError: missing or unreadable file.
    """
    with rasterio.Env(GTIFF_VIRTUAL_MEM_IO="YES"), _open(path) as ds:
        yield ds


#: Both rasters of a pair, open: ``(before, after)``.
OpenPair = tuple[rasterio.io.DatasetReader, rasterio.io.DatasetReader]


@contextmanager
def open_pair(before_path: str | os.PathLike[str], after_path: str | os.PathLike[str]) -> Iterator[OpenPair]:
    """Both rasters open for the reads of several tiles (opening a GeoTIFF costs about a
    millisecond: a share of reading a window worth saving)."""
    with opened(before_path) as bds, opened(after_path) as ads:
        yield bds, ads


def _has_mask(ds: rasterio.io.DatasetReader) -> bool:
    return ds.nodata is not None or any(m.name != "all_valid" for m in ds.mask_flag_enums[0])


def read_rgb8(
    ds: rasterio.io.DatasetReader, window: Window, boundless: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """Read a window of an open raster as ``(h, w, 3)`` uint8 RGB and its validity.

    8-bit rasters with three or more bands are read straight into a pixel-interleaved array
    (uncompressed GeoTIFFs read straight from their blocks, see :mod:`detection.tiff_blocks`);
    others go through :func:`detection.align.to_rgb8` (grey repeated, other types
    stretched).

    Args:
        ds: an open raster (see :func:`opened`).
        window: pixel window; may extend beyond the raster when ``boundless``.
        boundless: pixels outside the raster are 0 and invalid.

    Returns:
        ``(rgb, valid)``; ``valid`` is None when every pixel is valid.

    Raises:
        TileReadError: the window cannot be read.
    """
    h, w = int(window.height), int(window.width)
    r0, c0 = int(window.row_off), int(window.col_off)
    ir0, ic0 = max(0, r0), max(0, c0)
    ir1, ic1 = min(ds.height, r0 + h), min(ds.width, c0 + w)
    inside = (ir0, ic0, ir1, ic1) == (r0, c0, r0 + h, c0 + w)
    try:
        if ds.count < 3 or ds.dtypes[0] != "uint8":
            from detection.align import to_rgb8

            arr = ds.read(_rgb_bands(ds.count), window=window, boundless=boundless and not inside, fill_value=0)
            if _has_mask(ds):
                valid: np.ndarray | None = ds.read_masks(1, window=window, boundless=boundless and not inside) > 0
            else:
                valid = None if inside else _inside(window, ds.width, ds.height)
            return to_rgb8(arr), valid
        if not inside and not boundless:
            raise ValueError("window extends beyond the raster")
        out = np.empty((h, w, 3), np.uint8) if inside else np.zeros((h, w, 3), np.uint8)
        valid = None if inside else np.zeros((h, w), bool)
        if ir1 > ir0 and ic1 > ic0:
            sub = Window(ic0, ir0, ic1 - ic0, ir1 - ir0)
            part = (slice(ir0 - r0, ir1 - r0), slice(ic0 - c0, ic1 - c0))
            blocks = tiff_blocks.layout(ds)
            if blocks is not None:
                tiff_blocks.read_into(blocks, ir0, ic0, out[part])
            else:
                ds.read([1, 2, 3], window=sub, out=out[part].transpose(2, 0, 1))
            if _has_mask(ds):
                m = ds.read_masks(1, window=sub) > 0
                if valid is None:
                    valid = m
                else:
                    valid[part] = m
            elif valid is not None:
                valid[part] = True
    except (RasterioIOError, ValueError) as exc:
        raise TileReadError(f"{ds.name}: 读取窗口失败 / cannot read window {window} ({exc})") from exc
    return out, valid


def _inside(win: Window, width: int, height: int) -> np.ndarray:
    h, w = int(win.height), int(win.width)
    rows = np.arange(h) + int(win.row_off)
    cols = np.arange(w) + int(win.col_off)
    return ((rows >= 0) & (rows < height))[:, None] & ((cols >= 0) & (cols < width))[None, :]


def window_for_bounds(path: str | os.PathLike[str], bounds: tuple[float, float, float, float], pad: int = 2) -> Window:
    """The pixel window of ``path`` covering ``bounds`` (its CRS), padded and rounded outwards."""
    i = info(path)
    w = from_bounds(*bounds, transform=i.transform)
    col0 = int(np.floor(w.col_off)) - pad
    row0 = int(np.floor(w.row_off)) - pad
    col1 = int(np.ceil(w.col_off + w.width)) + pad
    row1 = int(np.ceil(w.row_off + w.height)) + pad
    return Window(col0, row0, max(1, col1 - col0), max(1, row1 - row0))


def write_png(path: str | os.PathLike[str], image: np.ndarray) -> None:
    """Write a single-band or ``(h, w, 3)`` RGB uint8 PNG atomically (temp name, then rename).

    Raises:
        TileWriteError: the folder is missing or not writable.
    """
    import cv2

    p = Path(path)
    tmp = p.with_name(f".{p.name}.part.png")
    img = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    try:
        ok = cv2.imwrite(str(tmp), img)
        if not ok:
            raise TileWriteError(f"{p}: 无法写入 / cannot write PNG")
        os.replace(tmp, p)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, TileWriteError):
            raise
        raise TileWriteError(f"{p}: 无法写入 / cannot write ({exc.strerror or exc})") from exc
