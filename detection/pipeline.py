"""The detection pipeline: in-memory pairs and windowed raster files (optionally over Dask)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from affine import Affine
from rasterio.windows import Window
from rasterio.windows import bounds as window_bounds
from rasterio.windows import transform as window_transform
from shapely.geometry.base import BaseGeometry

from detection import align, core, rasterio_io, vectorize, windows
from detection.errors import GridMismatchError
from detection.types import ChangePolygon, ChangeResult, DetectParams, ImageData

Progress = Callable[[float], None]
#: Receives ``(window, labelled_block)`` for each changed patch of the output mask.
MaskSink = Callable[[Window, np.ndarray], None]

#: Masks of rasters up to this many pixels are kept in memory by :func:`detect_files`.
IN_MEMORY_MASK_PX = 64_000_000


def working_scale(pixel_size: float | None, params: DetectParams) -> float:
    """Factor applied before the costly stage: fine imagery is reduced to ``params.work_gsd_m``."""
    if pixel_size is None or params.work_gsd_m is None or pixel_size <= 0:
        return 1.0
    if pixel_size >= 0.75 * params.work_gsd_m:
        return 1.0
    return pixel_size / params.work_gsd_m


def min_area_px(pixel_size: float | None, params: DetectParams, geographic: bool = False) -> int:
    """Minimum blob size in native pixels from the m² setting (or the pixel setting)."""
    if pixel_size is None or geographic:
        return params.min_area_px
    return max(1, int(params.min_area_m2 / (pixel_size * pixel_size)))


def detect_arrays(
    before: ImageData, after: ImageData, params: DetectParams | None = None, model: Any = None
) -> ChangeResult:
    """Detect changes between two in-memory images.

    ``before`` is resampled onto the grid of ``after`` when both have a CRS; plain images must
    have the same size.

    Args:
        before: the earlier image.
        after: the later image (its grid is the output grid).
        params: method parameters (defaults when None).
        model: a pixel classifier overriding the committed one (used by the benchmarks).

    Returns:
        :class:`ChangeResult` with the labelled mask (0 / 1 appeared / 2 disappeared) and polygons.

    Raises:
        GridMismatchError: the images cannot be put on one grid.
    """
    params = params or DetectParams()
    t0 = time.perf_counter()
    b_on = align.reproject_to_grid(before, after.transform, after.crs, (after.height, after.width))
    valid = b_on.valid_mask & after.valid_mask
    a8 = align.to_rgb8(b_on.array)
    b8 = align.to_rgb8(after.array)
    px = after.pixel_size
    geo = vectorize.is_geographic(after.crs)
    out = core.detect_window(
        a8, b8, None if valid.all() else valid, params,
        scale=1.0 if geo else working_scale(px, params), min_area_px=min_area_px(px, params, geo), model=model,
    )
    polys = vectorize.vectorize(
        out.mask, out.score, after.transform, after.crs,
        min_area_m2=params.min_area_m2, min_area_px=params.min_area_px, simplify_px=params.simplify_px,
    )
    stats = {"seconds": time.perf_counter() - t0, "shift_x": out.shift[0], "shift_y": out.shift[1],
             "candidate_fraction": out.candidate_fraction}
    return ChangeResult(out.mask, polys, after.transform, after.crs, None, (after.height, after.width), stats)


def warm_up(params: DetectParams | None = None) -> ChangeResult:
    """Run the whole in-memory path once on a small made-up pair (a roof appears on a lawn).

    A fresh process pays about half a second on its first window beyond the model's loading:
    OpenCV builds its 8-bit Lab tables, the compiled loops (trees and area means) are loaded (or
    compiled, the first time) and the vectoriser is first touched.
    Workers call this when they start (see :mod:`detection.distributed`), so the first scene
    they get is as fast as the rest.

    Args:
        params: method parameters (defaults when None).

    Returns:
        The result on the made-up pair (the roof is found).

    Raises:
        ModelError: the model cannot be loaded.
    """
    rng = np.random.default_rng(0)
    n = 192
    base = np.empty((n, n, 3), np.uint8)
    base[...] = (70, 110, 60)  # lawn
    base = np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)
    after = base.copy()
    after[64:128, 56:136] = (205, 200, 190)  # a new pale roof
    after[128:136, 60:140] = (45, 50, 45)  # its shadow
    before_img, after_img = ImageData(np.moveaxis(base, -1, 0)), ImageData(np.moveaxis(after, -1, 0))
    return detect_arrays(before_img, after_img, params)


# ----------------------------------------------------------------------------- files
#: A changed patch of the output mask: raster row, raster column and the labelled block.
MaskPatch = tuple[int, int, np.ndarray]


@dataclass
class TileOutput:
    """What a worker sends back for one tile (small: the changed patches of its core and its polygons)."""

    tile: windows.Tile
    patches: list[MaskPatch] = field(default_factory=list)
    inner: list[ChangePolygon] = field(default_factory=list)
    edge: list[ChangePolygon] = field(default_factory=list)
    shift: tuple[float, float] = (0.0, 0.0)
    candidate_fraction: float = 0.0
    seconds: float = 0.0


def check_pair(before_path: str | os.PathLike[str], after_path: str | os.PathLike[str]) -> tuple[
    rasterio_io.RasterInfo, rasterio_io.RasterInfo
]:
    """Open both rasters' metadata and check they can be compared.

    Raises:
        TileReadError: a file cannot be read.
        GridMismatchError: one is georeferenced and the other not, plain images differ in size,
            or the footprints do not overlap.
    """
    bi = rasterio_io.info(before_path)
    ai = rasterio_io.info(after_path)
    if (bi.crs is None) != (ai.crs is None):
        plain = before_path if bi.crs is None else after_path
        raise GridMismatchError(f"{plain}: 没有坐标参考 / has no CRS while the other image has one")
    if ai.crs is None:
        if (bi.width, bi.height) != (ai.width, ai.height):
            raise GridMismatchError(
                f"{after_path}: 尺寸不一致 / size {ai.width}x{ai.height} differs from {before_path} "
                f"({bi.width}x{bi.height}); plain images must have the same size"
            )
    else:
        from rasterio.warp import transform_bounds

        bb = transform_bounds(bi.crs, ai.crs, *bi.bounds) if bi.crs != ai.crs else bi.bounds
        ab = ai.bounds
        if bb[0] >= ab[2] or bb[2] <= ab[0] or bb[1] >= ab[3] or bb[3] <= ab[1]:
            raise GridMismatchError(f"{after_path}: 与 {before_path} 不重叠 / footprints do not overlap")
    return bi, ai


def _same_scale(t1: Any, t2: Any) -> bool:
    """Whether two affine transforms differ only by a translation."""
    return bool(
        np.allclose([t1.a, t1.b, t1.d, t1.e], [t2.a, t2.b, t2.d, t2.e], rtol=1e-9, atol=1e-12)
    )


def _read_pair_window(
    before_path: str, after_path: str, ai: rasterio_io.RasterInfo, bi: rasterio_io.RasterInfo, win: Window
) -> tuple[ImageData, ImageData]:
    """Read one window of both rasters with ``before`` on the after grid (used for review chips)."""
    after = rasterio_io.read_window(after_path, win)
    if ai.crs is None:
        before = rasterio_io.read_window(before_path, win)
        return before, after
    if bi.crs == ai.crs and _same_scale(bi.transform, ai.transform):
        return _read_translated(before_path, bi, ai, win), after
    return _reprojected_before(before_path, bi, ai, win), after


def _reprojected_before(
    before_path: str, bi: rasterio_io.RasterInfo, ai: rasterio_io.RasterInfo, win: Window
) -> ImageData:
    """The part of ``before`` under a window of the after grid, reprojected onto that window."""
    from rasterio.warp import transform_bounds

    t = window_transform(win, ai.transform)
    x0, y0 = t @ (0, 0)
    x1, y1 = t @ (int(win.width), int(win.height))
    bounds = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
    if bi.crs != ai.crs:
        bounds = transform_bounds(ai.crs, bi.crs, *bounds)
    bwin = rasterio_io.window_for_bounds(before_path, bounds, pad=2)
    before = rasterio_io.read_window(before_path, bwin, boundless=True)
    return align.reproject_to_grid(before, t, ai.crs, (int(win.height), int(win.width)))


def _read_translated(
    before_path: str, bi: rasterio_io.RasterInfo, ai: rasterio_io.RasterInfo, win: Window
) -> ImageData:
    """Read ``before`` onto the after-window grid when the grids differ by a translation only.

    Much cheaper than a general reprojection: an integer-offset read plus one bilinear sub-pixel
    shift (OpenCV).
    """
    c0, r0 = ~bi.transform @ (ai.transform @ (float(win.col_off), float(win.row_off)))
    ic, ir = int(np.floor(c0 + 1e-9)), int(np.floor(r0 + 1e-9))
    fx, fy = c0 - ic, r0 - ir
    h, w = int(win.height), int(win.width)
    src = rasterio_io.read_window(before_path, Window(ic, ir, w + 1, h + 1), boundless=True)
    arr = np.ascontiguousarray(np.moveaxis(src.array, 0, -1))
    valid = src.valid_mask
    if abs(fx) > 1e-6 or abs(fy) > 1e-6:
        m = np.array([[1, 0, fx], [0, 1, fy]], np.float32)
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        arr = np.asarray(cv2.warpAffine(arr, m, (w, h), flags=flags, borderMode=cv2.BORDER_REPLICATE))
        valid = valid[:h, :w] & valid[1 : h + 1, 1 : w + 1]
    else:
        arr, valid = arr[:h, :w], valid[:h, :w]
    if arr.ndim == 2:
        arr = arr[:, :, None]
    out = np.ascontiguousarray(np.moveaxis(arr, -1, 0))
    return ImageData(out, window_transform(win, ai.transform), ai.crs, np.ascontiguousarray(valid))


def _aligned_pair(
    before_path: str, after_path: str, bi: rasterio_io.RasterInfo, ai: rasterio_io.RasterInfo, win: Window,
    params: DetectParams, datasets: rasterio_io.OpenPair | None = None,
) -> core.Aligned:
    """Read one window of both rasters and align them on the after grid.

    Grids that differ by a translation only (the usual case) are read at an integer offset with
    a margin and resampled once, by the georeferenced offset and the co-registration residual
    together (not at all when both are negligible); other grids are reprojected. ``datasets``:
    both rasters already open (see :func:`detection.rasterio_io.open_pair`), else they are opened here.
    """
    if datasets is None:
        with rasterio_io.open_pair(before_path, after_path) as pair:
            return _aligned_pair(before_path, after_path, bi, ai, win, params, pair)
    bds, ads = datasets
    b8, vb = rasterio_io.read_rgb8(ads, win)
    margin, prior = 0, (0.0, 0.0)
    if ai.crs is None:
        a_src, va = rasterio_io.read_rgb8(bds, win)
    elif bi.crs == ai.crs and _same_scale(bi.transform, ai.transform):
        c0, r0 = ~bi.transform @ (ai.transform @ (float(win.col_off), float(win.row_off)))
        ic, ir = int(np.floor(c0 + 1e-9)), int(np.floor(r0 + 1e-9))
        prior = (c0 - ic, r0 - ir)
        margin = int(np.ceil(params.max_shift_px)) + 2
        h, w = int(win.height), int(win.width)
        a_src, va = rasterio_io.read_rgb8(bds, Window(ic - margin, ir - margin, w + 2 * margin, h + 2 * margin),
                                          boundless=True)
    else:
        before = _reprojected_before(before_path, bi, ai, win)
        a_src, va = align.to_rgb8(before.array), before.valid
    return core.align_pair(a_src, b8, params, a_valid=va, b_valid=vb, margin=margin, prior=prior)


def process_tile(
    before_path: str,
    after_path: str,
    tile: windows.Tile,
    params: DetectParams,
    model_path: str | None = None,
    infos: tuple[rasterio_io.RasterInfo, rasterio_io.RasterInfo] | None = None,
    look_back: Sequence[bytes] = (),
    datasets: rasterio_io.OpenPair | None = None,
) -> TileOutput:
    """Detect changes in one tile (runs in a worker; reads its own windows).

    Args:
        before_path: earlier raster.
        after_path: later raster (its grid is the output grid).
        tile: the tile to process.
        params: method parameters.
        model_path: overrides ``params.model_path``.
        infos: ``(before, after)`` metadata when the caller has it (saves opening the files).
        look_back: WKB polygons in the after raster's CRS near the tile where the model also asks
            whether a structure vanished (see :func:`detect_files`).
        datasets: both rasters already open (see :func:`detection.rasterio_io.open_pair`); None opens them here.

    Returns:
        The changed patches of the tile's core and their polygons, split into inner ones and ones
        touching an internal core edge.
    """
    t0 = time.perf_counter()
    bi, ai = infos if infos is not None else (rasterio_io.info(before_path), rasterio_io.info(after_path))
    al = _aligned_pair(before_path, after_path, bi, ai, tile.read, params, datasets)
    if al.valid is not None and not al.valid.any():
        return TileOutput(tile, seconds=time.perf_counter() - t0)
    from detection import change

    model = change.load_model(model_path or params.model_path)
    px = ai.pixel_size
    geo = vectorize.is_geographic(ai.crs)
    res = core.detect_aligned(
        al, params, scale=1.0 if geo else working_scale(px, params), min_area_px=min_area_px(px, params, geo),
        model=model, look_back=_look_back_mask(look_back, tile, ai),
    )
    patches, inner, edge = _core_pieces(res.patches, tile, ai)
    return TileOutput(tile, patches, inner, edge, res.shift, res.candidate_fraction, time.perf_counter() - t0)


def _look_back_mask(wkb: Sequence[bytes], tile: windows.Tile, ai: rasterio_io.RasterInfo) -> np.ndarray | None:
    """The polygons burnt onto the tile's read window (None when there are none)."""
    if not wkb:
        return None
    from rasterio.features import rasterize
    from shapely import from_wkb

    shape = (int(tile.read.height), int(tile.read.width))
    burnt = rasterize([(g, 1) for g in from_wkb(list(wkb))], out_shape=shape,
                      transform=window_transform(tile.read, ai.transform), fill=0, dtype="uint8")
    return np.asarray(burnt) > 0


def _core_pieces(
    found: list[core.Patch], tile: windows.Tile, ai: rasterio_io.RasterInfo
) -> tuple[list[MaskPatch], list[ChangePolygon], list[ChangePolygon]]:
    """The changed patches of a tile cut to its core, and their polygons: inner ones and ones
    touching an internal core edge (merged with their neighbours' later)."""
    rs, cs = tile.inner
    ctf = window_transform(tile.core, ai.transform)
    h, w = int(tile.core.height), int(tile.core.width)
    internal = [tile.core.col_off > 0, tile.core.row_off > 0,
                tile.core.col_off + w < ai.width, tile.core.row_off + h < ai.height]
    patches: list[MaskPatch] = []
    pieces: list[tuple[np.ndarray, np.ndarray, Affine]] = []
    for p in found:
        ph, pw = p.mask.shape
        r0, r1 = max(p.row, rs.start), min(p.row + ph, rs.stop)
        c0, c1 = max(p.col, cs.start), min(p.col + pw, cs.stop)
        if r1 <= r0 or c1 <= c0:
            continue
        mask = p.mask[r0 - p.row : r1 - p.row, c0 - p.col : c1 - p.col]
        if not mask.any():
            continue
        score = p.score[r0 - p.row : r1 - p.row, c0 - p.col : c1 - p.col]
        # row and column of the piece in the core, then in the raster
        cr, cc = r0 - rs.start, c0 - cs.start
        patches.append((int(tile.core.row_off) + cr, int(tile.core.col_off) + cc, np.ascontiguousarray(mask)))
        pieces.append((mask, score, ctf @ Affine.translation(cc, cr)))
    inner: list[ChangePolygon] = []
    edge: list[ChangePolygon] = []
    for polys in vectorize.vectorize_pieces(pieces, ai.crs):
        # pieces touching an internal core edge are merged with their neighbours later
        for poly in polys:
            minx, miny, maxx, maxy = poly.geometry.bounds
            x0, y0 = ~ctf @ (minx, maxy)
            x1, y1 = ~ctf @ (maxx, miny)
            touch = [min(x0, x1) <= 0.5, min(y0, y1) <= 0.5, max(x0, x1) >= w - 0.5, max(y0, y1) >= h - 0.5]
            (edge if any(t and i for t, i in zip(touch, internal, strict=True)) else inner).append(poly)
    return patches, inner, edge


def _finish_polygons(
    pieces: Iterable[ChangePolygon], crs: str | None, px: float, params: DetectParams
) -> list[ChangePolygon]:
    out = []
    for p in pieces:
        g = p.geometry
        if params.simplify_px > 0:
            g = g.simplify(params.simplify_px * px, preserve_topology=True)
        if g.is_empty:
            continue
        area = vectorize.polygon_area_m2(g, crs)
        if area is not None and area < params.min_area_m2:
            continue
        if area is None and g.area < params.min_area_px:
            continue
        out.append(ChangePolygon(g, p.change, area, p.score, crs))
    out.sort(key=lambda p: (-p.score, p.geometry.bounds))
    return out


def detect_files(
    before_path: str | os.PathLike[str],
    after_path: str | os.PathLike[str],
    params: DetectParams | None = None,
    progress: Progress | None = None,
    client: Any = None,
    mask_sink: MaskSink | None = None,
    keep_mask: bool | None = None,
    look_back: Sequence[BaseGeometry] = (),
) -> ChangeResult:
    """Detect changes between two raster files, window by window (memory flat in the raster size).

    Args:
        before_path: the earlier raster (GeoTIFF, or PNG/JPEG with ``after_path`` also plain).
        after_path: the later raster; its grid is the output grid.
        params: method parameters.
        progress: called with the finished fraction (0..1) after each window.
        client: a ``dask.distributed.Client``; windows are fanned out to its workers. None runs
            the windows one after the other in this process.
        mask_sink: called with ``(window, labelled_block)`` for each changed patch of the mask, in
            completion order; patches never overlap and every pixel outside them is 0 (e.g.
            :meth:`detection.mask_png.BinaryMaskPng.add`).
        keep_mask: keep the full mask in memory (default: only for rasters up to 64 Mpx).
        look_back: polygons in the after raster's CRS (recorded violations) inside which every
            pixel is also scored with the dates swapped, so that structures that vanished there
            are found (the model alone finds appearing ones; see ``DetectParams.both_ways``).

    Returns:
        :class:`ChangeResult` (``mask`` None when not kept).

    Raises:
        TileReadError: a file cannot be read.
        GridMismatchError: the files cannot be compared.
    """
    params = params or DetectParams()
    t0 = time.perf_counter()
    bp, ap = str(before_path), str(after_path)
    bi, ai = check_pair(bp, ap)
    tl = windows.tiles(ai.width, ai.height, params.window, params.overlap)
    if keep_mask is None:
        keep_mask = ai.width * ai.height <= IN_MEMORY_MASK_PX
    full = np.zeros((ai.height, ai.width), np.uint8) if keep_mask else None
    inner: list[ChangePolygon] = []
    edge: list[ChangePolygon] = []
    shifts = []
    cand = 0.0
    if progress:
        progress(0.0)
    for done, res in enumerate(_run_tiles(bp, ap, (bi, ai), tl, params, client, _per_tile(look_back, tl, ai)),
                               start=1):
        win = res.tile.core
        for r0, c0, block in res.patches:
            if full is not None:
                full[r0 : r0 + block.shape[0], c0 : c0 + block.shape[1]] = block
            if mask_sink is not None:
                mask_sink(Window(c0, r0, block.shape[1], block.shape[0]), block)
        inner.extend(res.inner)
        edge.extend(res.edge)
        shifts.append(res.shift)
        cand += res.candidate_fraction * int(win.width) * int(win.height)
        if progress:
            progress(done / len(tl))
    px = ai.pixel_size or 1.0
    # windows finish in any order (Dask): merge in a fixed order so every run gives the same polygons
    edge.sort(key=lambda p: (p.change, p.geometry.bounds, p.geometry.area))
    merged = windows.merge_across_seams(edge, tol=0.51 * px) if edge else []
    polys = _finish_polygons([*inner, *merged], ai.crs, px, params)
    stats = {
        "seconds": time.perf_counter() - t0, "windows": float(len(tl)),
        "candidate_fraction": cand / (ai.width * ai.height),
        "median_shift_px": float(np.median([np.hypot(*s) for s in shifts])) if shifts else 0.0,
    }
    return ChangeResult(full, polys, ai.transform, ai.crs, None, (ai.height, ai.width), stats)


def _per_tile(geoms: Sequence[BaseGeometry], tl: list[windows.Tile], ai: rasterio_io.RasterInfo) -> list[list[bytes]]:
    """For each tile, the WKB of the polygons that reach its read window."""
    if not geoms:
        return [[] for _ in tl]
    from shapely import STRtree, box, to_wkb

    tree = STRtree(list(geoms))
    hits = (tree.query(box(*window_bounds(t.read, ai.transform)), predicate="intersects") for t in tl)
    return [[bytes(to_wkb(geoms[int(i)])) for i in h] for h in hits]


def _run_tiles(
    bp: str, ap: str, infos: tuple[rasterio_io.RasterInfo, rasterio_io.RasterInfo], tl: list[windows.Tile],
    params: DetectParams, client: Any, look_back: list[list[bytes]],
) -> Iterable[TileOutput]:
    if client is None:
        with rasterio_io.open_pair(bp, ap) as pair:
            for t, lb in zip(tl, look_back, strict=True):
                yield process_tile(bp, ap, t, params, None, infos, lb, pair)
        return
    from detection.distributed import map_unordered, total_threads

    args = [(bp, ap, tl[i:j], params, infos, look_back[i:j]) for i, j in task_spans(len(tl), total_threads(client))]
    for outputs in map_unordered(client, process_tiles, args):
        yield from outputs


#: A task takes this share of the windows left per worker thread (see :func:`task_spans`).
TASK_SHARE = 1 / 8


def task_spans(n: int, threads: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of the windows of each Dask task: each takes an eighth of what is left per
    worker thread, so the tasks shrink to single windows towards the end (every task costs the
    scheduler a few ms of the client's CPU; the last ones keep the workers evenly loaded)."""
    spans = []
    i = 0
    while i < n:
        j = i + max(1, int((n - i) * TASK_SHARE / threads))
        spans.append((i, j))
        i = j
    return spans


def process_tiles(
    before_path: str, after_path: str, tiles: Sequence[windows.Tile], params: DetectParams,
    infos: tuple[rasterio_io.RasterInfo, rasterio_io.RasterInfo], look_back: Sequence[Sequence[bytes]],
) -> list[TileOutput]:
    """:func:`process_tile` on several tiles, one after the other (one Dask task), the rasters
    opened once."""
    with rasterio_io.open_pair(before_path, after_path) as pair:
        return [process_tile(before_path, after_path, t, params, None, infos, lb, pair)
                for t, lb in zip(tiles, look_back, strict=True)]


__all__ = [
    "ChangeResult", "DetectParams", "ImageData", "detect_arrays", "detect_files", "process_tile", "process_tiles",
]
