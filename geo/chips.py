"""Review chips of many detections of one scene pair, read block by block.

:func:`detection.chips.chips_for_polygon` reads both rasters for every polygon; a scene has
hundreds. Here the polygons are grouped by block of the after grid, each block's pair window is
read once (the before image resampled onto the after grid) and every chip of the block is cut
from it with :func:`detection.chips.chips_from_arrays`. Memory is bounded by the block size;
a polygon whose chip would not fit a block is read on its own.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from rasterio.windows import Window
from shapely.geometry.base import BaseGeometry

#: Side (pixels of the after grid) of the blocks polygons are grouped by.
BLOCK_PX = 1024
#: Context around a polygon, as a share of its bounding box (as detection.chips uses).
MARGIN = 0.5


def _chip_window(geom: BaseGeometry, inv: Any, width: int, height: int) -> tuple[int, int, int, int]:
    minx, miny, maxx, maxy = geom.bounds
    c0, r0 = inv * (minx, maxy)
    c1, r1 = inv * (maxx, miny)
    c0, c1 = sorted((c0, c1))
    r0, r1 = sorted((r0, r1))
    mw, mh = max(8.0, (c1 - c0) * MARGIN), max(8.0, (r1 - r0) * MARGIN)
    return (max(0, int(c0 - mw)), max(0, int(r0 - mh)),
            min(width, int(c1 + mw) + 1), min(height, int(r1 + mh) + 1))


def _read_pair(before_path: str, after_path: str, before_crs: str | None, after_crs: str | None,
               win: Window) -> tuple[Any, Any]:
    from detection import align, rasterio_io

    after = rasterio_io.read_window(after_path, win)
    if after_crs is None:
        return rasterio_io.read_window(before_path, win), after
    from rasterio.warp import transform_bounds

    t = after.transform  # located at the window
    x0, y0 = t * (0, 0)
    x1, y1 = t * (int(win.width), int(win.height))
    bounds = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
    if before_crs != after_crs:
        bounds = transform_bounds(after_crs, before_crs, *bounds)
    bwin = rasterio_io.window_for_bounds(before_path, bounds, pad=2)
    before = rasterio_io.read_window(before_path, bwin, boundless=True)
    before = align.reproject_to_grid(before, after.transform, after.crs, (after.height, after.width))
    return before, after


def chips_for_polygons(before_path: str | os.PathLike[str], after_path: str | os.PathLike[str],
                       geometries: Sequence[BaseGeometry], size: int = 256,
                       progress: Callable[[int, int], None] | None = None) -> Iterator[tuple[int, bytes, bytes]]:
    """Before/after PNG chips of many polygons (in the after raster's CRS).

    Yields:
        ``(index of the polygon, before_png, after_png)``, in block order.

    Raises:
        detection.TileReadError: a raster cannot be read.
    """
    from detection.chips import chips_for_polygon, chips_from_arrays
    from detection.pipeline import check_pair

    bp, ap = str(before_path), str(after_path)
    bi, ai = check_pair(bp, ap)
    inv = ~ai.transform
    groups: dict[tuple[int, int], list[tuple[int, tuple[int, int, int, int]]]] = defaultdict(list)
    for i, g in enumerate(geometries):
        w = _chip_window(g, inv, ai.width, ai.height)
        groups[((w[0] + w[2]) // 2 // BLOCK_PX, (w[1] + w[3]) // 2 // BLOCK_PX)].append((i, w))
    done = 0
    total = len(geometries)
    for members in groups.values():
        x0 = min(w[0] for _, w in members)
        y0 = min(w[1] for _, w in members)
        x1 = max(w[2] for _, w in members)
        y1 = max(w[3] for _, w in members)
        if x1 - x0 > 2 * BLOCK_PX or y1 - y0 > 2 * BLOCK_PX:
            # a very large polygon stretches the block: read each chip on its own
            for i, _ in members:
                b, a = chips_for_polygon(bp, ap, geometries[i], size=size)
                done += 1
                if progress:
                    progress(done, total)
                yield i, b, a
            continue
        before, after = _read_pair(bp, ap, bi.crs, ai.crs, Window(x0, y0, max(1, x1 - x0), max(1, y1 - y0)))
        for i, _ in members:
            b, a = chips_from_arrays(before, after, geometries[i], margin=MARGIN, size=size)
            done += 1
            if progress:
                progress(done, total)
            yield i, b, a


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename."""
    import tempfile
    from contextlib import suppress

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=path.suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise
