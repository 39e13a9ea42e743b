"""The in-memory method on one window: normalise, co-register, two-stage change, decide.

The costly stage runs only on boxes around the candidates of the cheap first stage. A box holds
one group of nearby candidate components; boxes are at least ``2 * margin`` pixels apart (the
reach of the smoothing plus that of the blob decisions), so what happens in one box cannot reach
another. A box is scored in pieces of at most ``TILE`` pixels; between pieces of one box the
features see ``PAD`` pixels of context, the whole reach of their filters, so the seams between
pieces are exact. At a box's own edges they see only ``EDGE_PAD`` pixels and mirrored ones
beyond: those edges are the rim the first stage's candidates are dilated by (16 native pixels at
the default), far enough from anything that changed that the model's answer there hardly depends
on what lies farther out, and the full reach around every small box tripled the pixels the costly
stage computes features on. The smoothing sees its whole reach of context, and the window's share
of change (for :func:`detection.change.prior_factor`) is summed over all boxes first. With
``EDGE_PAD = PAD`` every pixel gets exactly the value it would get if the whole window were scored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from detection import align, change
from detection.area_mean import area_mean
from detection.types import DetectParams

#: Reduction factor of the cheap first stage (its reduced copy also gives the window's cue
#: statistics, so it is theirs).
FIRST_STAGE_FACTOR = change.STATS_FACTOR
#: Context (pixels at working resolution) between the pieces of one box: the reach of the widest
#: filter chain, so that a piece's features equal the whole window's.
PAD = change.CONTEXT_PX
#: Context at a box's own edges. On the generated 10k speed pair the mask is the same to 1.5 % of
#: its changed pixels as with the whole reach (0: 3.3 %, 8: 0.7 %; the same 432 polygons and object
#: recall of the new buildings, 0.895) for about a fifth less detect time; the open sets' held-out
#: figures do not move at all (their boxes reach their images' borders) nor do the sample tiles'.
EDGE_PAD = 4
#: Largest side of the scored part of one costly-stage call (bounds the feature stack's memory).
TILE = 256
#: Feature rows gathered before the model runs on them in one call (about 45 MB of features).
PREDICT_ROWS = 200_000
#: How far the blob decisions reach beyond the pixels with a probability (growth and closing).
DECIDE_REACH = 8
#: Side of the co-registration crop in windows of georeferenced rasters. On the sample tiles and
#: the generated speed pair the shifts from 384, 512 and 768 px agree within 0.03 px; 384 costs
#: about a third of 512, and 256 about half of 384 (over the 121 windows of 1024 px of the 10k
#: speed pair, 256 and 384 agree within 0.016 px; the sample tiles' shifts are the same).
GEO_CROP = 256
#: Weight of the model's own answer (appeared minus vanished probability, -1..1) where it looks
#: back, against the cue-based direction evidence elsewhere in a blob (about -12..12 a pixel).
LOOK_BACK_DIRECTION = 20.0
#: Shifts below this (pixels) are not worth a resampling.
NEGLIGIBLE_SHIFT_PX = 0.05


@dataclass
class Patch:
    """A piece of a window's labelled change mask; everything outside a window's patches is 0.

    Attributes:
        row: row offset in the window.
        col: column offset in the window.
        mask: ``(h, w)`` uint8 0 / APPEARED / DISAPPEARED.
        score: ``(h, w)`` float32 blob score.
    """

    row: int
    col: int
    mask: np.ndarray
    score: np.ndarray


@dataclass
class WindowOutput:
    """What one window yields: the changed patches and diagnostics."""

    shape: tuple[int, int]
    patches: list[Patch]
    shift: tuple[float, float]
    candidate_fraction: float

    @property
    def mask(self) -> np.ndarray:
        """The labelled mask of the whole window (``(h, w)`` uint8)."""
        out = np.zeros(self.shape, np.uint8)
        for p in self.patches:
            out[p.row : p.row + p.mask.shape[0], p.col : p.col + p.mask.shape[1]] = p.mask
        return out

    @property
    def score(self) -> np.ndarray:
        """The blob score of the whole window (``(h, w)`` float32)."""
        out = np.zeros(self.shape, np.float32)
        for p in self.patches:
            out[p.row : p.row + p.mask.shape[0], p.col : p.col + p.mask.shape[1]] = p.score
        return out


@dataclass
class Aligned:
    """A pair on one grid, co-registered and radiometrically normalised.

    Attributes:
        a: the before image.
        b: the after image; matched to ``a`` already, or when ``lut`` is given, by ``lut``
            wherever it is looked at (see :func:`detection.align.apply_lut`).
        valid: pixels valid in both (None = all).
        shift: the residual shift found by co-registration.
        lut: ``(1, 256, 3)`` histogram-matching table still to be applied to ``b`` (None: none).
        captured: the after image as captured, on the grid of ``b``, where ``b`` is matched
            already (None: ``b`` itself, matched only through ``lut``).
    """

    a: np.ndarray
    b: np.ndarray
    valid: np.ndarray | None
    shift: tuple[float, float]
    lut: np.ndarray | None = None
    captured: np.ndarray | None = None

    @property
    def after_captured(self) -> np.ndarray:
        """The after image before radiometric matching (its colours are the scene's own)."""
        return self.b if self.captured is None else self.captured


def align_pair(
    a_src: np.ndarray,
    b8: np.ndarray,
    params: DetectParams,
    *,
    a_valid: np.ndarray | None = None,
    b_valid: np.ndarray | None = None,
    margin: int = 0,
    prior: tuple[float, float] = (0.0, 0.0),
) -> Aligned:
    """Radiometric normalisation of ``b8`` to the before image and sub-pixel co-registration.

    With a georeferenced offset (``margin`` or ``prior`` given: windows of two rasters), the
    before image is resampled once, by the offset and the co-registration residual together (not
    at all when that is negligible), so the output grid is exactly that of ``b8``. A pair already
    on one grid keeps the before image and moves the after image by the residual, as the
    training pairs are aligned.

    Args:
        a_src: before ``(h + 2 * margin, w + 2 * margin, 3)`` uint8; its pixel
            ``(margin + x + prior_x, margin + y + prior_y)`` lies at after pixel ``(x, y)`` by
            georeferencing.
        b8: after ``(h, w, 3)`` uint8.
        params: method parameters.
        a_valid: valid pixels of ``a_src`` (None = all).
        b_valid: valid pixels of ``b8`` (None = all).
        margin: extra pixels of ``a_src`` on each side (real data for the shift).
        prior: sub-pixel offset from georeferencing.

    Returns:
        :class:`Aligned` with the before image on the after grid, the matched after image, the
        pixels valid in both (None = all) and the residual shift found by co-registration
        (``b(x + dx) ~ a(x)`` after placing by georeferencing; ``(0, 0)`` when none was applied).
    """
    h, w = b8.shape[:2]
    m = margin
    a0 = a_src[m : m + h, m : m + w]
    va0 = None if a_valid is None else a_valid[m : m + h, m : m + w]
    valid0 = _and(va0, b_valid)
    geo = m > 0 or prior != (0.0, 0.0)
    if geo:
        # a raster window: the after image is matched only where it is looked at (its reduced
        # copy, the co-registration crop, the costly stage's crops), not all of it
        bm, lut = b8, align.histogram_lut(b8, a0, valid0)
    else:
        bm, lut = align.match_histograms(b8, a0, valid0), None
    tx, ty = prior
    shift = (0.0, 0.0)
    if params.coregister:
        # raster windows: a small crop is plenty (see GEO_CROP)
        c = GEO_CROP if geo else 768
        y0, x0 = max(0, (h - c) // 2), max(0, (w - c) // 2)
        sl = (slice(y0, y0 + c), slice(x0, x0 + c))
        d = align.measure_shift(a0[sl], align.apply_lut(bm[sl], lut), None if valid0 is None else valid0[sl],
                                max_shift=params.max_shift_px, crop=c)
        if not geo:
            # a pair already on one grid (in memory, plain images, reprojected): the after image
            # moves onto the before one, as in training (this is what the model has learnt)
            captured = b8
            if d is not None and np.hypot(*d) >= align.MIN_SHIFT_PX:
                bm, captured = align.apply_shift(bm, *d), align.apply_shift(b8, *d)
                shift = d
            return Aligned(a0, bm, None if valid0 is None or valid0.all() else valid0, shift, captured=captured)
        # b(x + d) ~ a0(x): the before image moves by -d; georeferencing alone would move it by prior
        if d is not None and np.hypot(d[0] + tx, d[1] + ty) >= align.MIN_SHIFT_PX:
            shift = (d[0] + tx, d[1] + ty)
            tx, ty = -d[0], -d[1]
    if np.hypot(tx, ty) < NEGLIGIBLE_SHIFT_PX:
        a = a0  # a view: rows need not be contiguous for OpenCV
        valid = valid0
    else:
        mat = np.array([[1, 0, m + tx], [0, 1, m + ty]], np.float32)
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        a = np.asarray(cv2.warpAffine(a_src, mat, (w, h), flags=flags, borderMode=cv2.BORDER_REPLICATE))
        va = None
        if a_valid is not None:
            v = cv2.warpAffine(a_valid.astype(np.uint8) * 255, mat, (w, h), flags=flags,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            va = np.asarray(v) == 255
        valid = _and(va, b_valid)
    if valid is not None and valid.all():
        valid = None
    return Aligned(a, bm, valid, shift, lut)


def _and(x: np.ndarray | None, y: np.ndarray | None) -> np.ndarray | None:
    if x is None:
        return y
    if y is None:
        return x
    return x & y


def prepare_pair(
    a8: np.ndarray, b8: np.ndarray, valid: np.ndarray | None, params: DetectParams
) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """Radiometric normalisation and sub-pixel co-registration of a pair already on one grid.

    Args:
        a8: before ``(h, w, 3)`` uint8 RGB.
        b8: after ``(h, w, 3)`` uint8 RGB on the same grid.
        valid: pixels valid in both.
        params: method parameters.

    Returns:
        ``(a8, b8_matched_and_shifted, (dx, dy))``: the after image matched to the before one and
        moved onto it when co-registration found a shift, and that shift.
    """
    al = align_pair(a8, b8, params, a_valid=valid)
    return al.a, al.b, al.shift


def detect_window(
    a8: np.ndarray,
    b8: np.ndarray,
    valid: np.ndarray | None,
    params: DetectParams,
    scale: float = 1.0,
    min_area_px: int | None = None,
    model: Any = None,
) -> WindowOutput:
    """Detect changes in one window of a pair already on one grid.

    Args:
        a8: before ``(h, w, 3)`` uint8 RGB.
        b8: after ``(h, w, 3)`` uint8 RGB.
        valid: bool ``(h, w)`` valid in both (None = all).
        params: method parameters.
        scale: working resolution factor (< 1 shrinks fine imagery before the costly stage).
        min_area_px: smallest blob in native pixels (default ``params.min_area_px``).
        model: classifier (default: the committed model).

    Returns:
        A :class:`WindowOutput` on the native window grid.
    """
    al = align_pair(a8, b8, params, a_valid=None if valid is None or valid.all() else valid)
    return detect_aligned(al, params, scale=scale, min_area_px=min_area_px, model=model)


def detect_aligned(
    al: Aligned, params: DetectParams, scale: float = 1.0, min_area_px: int | None = None, model: Any = None,
    look_back: np.ndarray | None = None,
) -> WindowOutput:
    """Two-stage change detection on an aligned pair (see :func:`align_pair`).

    Args:
        al: the aligned pair.
        params: method parameters.
        scale: working resolution factor (< 1 shrinks fine imagery before the costly stage).
        min_area_px: smallest blob in native pixels (default ``params.min_area_px``).
        model: classifier (default: the committed model).
        look_back: bool ``(h, w)`` pixels (e.g. recorded violations) where the model also asks
            whether a structure vanished (:func:`detection.change.predict_reversed`) and the
            larger probability counts; None: nowhere (unless ``params.both_ways``).

    Returns:
        A :class:`WindowOutput` on the native window grid.
    """
    a8, bm, valid = al.a, al.b, al.valid
    h, w = a8.shape[:2]
    # one reduction serves the first stage and the window's cue statistics
    ra, rb, cand_small = first_stage(a8, bm, params, al.lut)
    if not cand_small.any():
        return WindowOutput((h, w), [], al.shift, 0.0)
    if model is None:
        model = change.load_model(params.model_path)
    if scale != 1.0:
        wh, ww = max(8, round(h * scale)), max(8, round(w * scale))
        def shrink(x: np.ndarray) -> np.ndarray:
            return np.asarray(cv2.resize(x, (ww, wh), interpolation=cv2.INTER_AREA), np.uint8)

        a_w, b_small = shrink(a8), shrink(bm)
        b_w = align.apply_lut(b_small, al.lut)
        lut = None
        stats = change.cue_stats(a_w, b_w)
        # the after image as captured: ``bm`` itself unless it is matched already
        raw_w = b_small if al.captured is None else shrink(al.captured)
    else:
        wh, ww = h, w
        a_w, b_w, lut, raw_w = a8, bm, al.lut, al.after_captured
        stats = change.cue_stats(a_w, b_w, reduced=(ra, rb))
    cs8 = cand_small.astype(np.uint8)
    # the candidate cells on the working grid, box by box (as cv2.resize, nearest neighbour)
    src_rows, src_cols = nearest_index(wh, cs8.shape[0]), nearest_index(ww, cs8.shape[1])
    back = None
    if params.both_ways:
        back = np.ones((wh, ww), bool)
    elif look_back is not None and look_back.any():
        back = look_back if (wh, ww) == (h, w) else np.asarray(
            cv2.resize(look_back.astype(np.uint8), (ww, wh), interpolation=cv2.INTER_NEAREST)) > 0
    inner_valid = None
    if valid is not None:
        vw = cv2.resize(valid.astype(np.uint8), (ww, wh), interpolation=cv2.INTER_NEAREST)
        inner_valid = np.asarray(cv2.erode(vw, np.ones((5, 5), np.uint8)), np.uint8)
        n_valid = max(1, int(np.count_nonzero(vw)))
    else:
        n_valid = wh * ww
    min_px = params.min_area_px if min_area_px is None else min_area_px
    min_work = max(1, round(min_px * scale * scale))
    margin = box_margin(params)
    boxes: list[_BoxFeatures] = []
    pending = 0  # feature rows in boxes
    scored: list[_Scored] = []
    n_cand = 0
    for y0, y1, x0, x1 in candidate_boxes(cs8, (wh, ww), margin):
        reg = cs8[np.ix_(src_rows[y0:y1], src_cols[x0:x1])]
        if inner_valid is not None:
            reg &= inner_valid[y0:y1, x0:x1]
        rows = np.flatnonzero(reg.any(axis=1))
        if rows.size == 0:
            continue
        cols = np.flatnonzero(reg.any(axis=0))
        n_cand += int(np.count_nonzero(reg))
        tight = (int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1)
        bf = _box_features(a_w, b_w, lut, reg > 0, (y0, x0), tight, stats, margin, params.predict_stride)
        if back is not None:
            cy0, cy1, cx0, cx1 = bf.crop
            bf.back = back[cy0:cy1, cx0:cx1] & bf.region
            if not bf.back.any():
                bf.back = None
        boxes.append(bf)
        pending += bf.idx.size
        if pending >= PREDICT_ROWS:
            scored += _score_boxes(boxes, model, params.predict_stride)
            boxes, pending = [], 0
    scored += _score_boxes(boxes, model, params.predict_stride)
    del boxes
    # the window's own share of change: mean probability over its valid pixels (0 off candidates)
    share = sum(float(sc.prob.sum(dtype=np.float64)) for sc in scored) / n_valid
    factor = change.prior_factor(share, params.prior_reference, params.prior_gamma, params.prior_floor)
    finished = (_finish_box(sc, b_w, lut, raw_w, factor, params, min_work) for sc in scored)
    patches = [q for q in finished if q is not None]
    if (wh, ww) != (h, w):
        patches = [_to_native(p, (wh, ww), (h, w)) for p in patches]
    if valid is not None:
        patches = [q for q in (_mask_invalid(p, valid) for p in patches) if q is not None]
    return WindowOutput((h, w), patches, al.shift, n_cand / float(wh * ww))


def box_margin(params: DetectParams) -> int:
    """Empty border around the candidates of one box: the reach of smoothing and decisions."""
    return DECIDE_REACH + 2 * max(0, params.smooth_radius)


#: Empty border around the candidates of one decision box at the default parameters.
MARGIN = box_margin(DetectParams())


def candidate_boxes(
    cells: np.ndarray, shape: tuple[int, int], margin: int = MARGIN
) -> list[tuple[int, int, int, int]]:
    """Disjoint boxes (working pixels) around groups of candidate components.

    Args:
        cells: the first stage's ``(sh, sw)`` uint8 candidate cells.
        shape: ``(h, w)`` of the working grid the cells are resized to (nearest neighbour).
        margin: border around the candidates (see :func:`box_margin`).

    Returns:
        ``(y0, y1, x0, x1)`` half-open boxes, row-major, each holding every working pixel of its
        candidate components plus ``margin``, no two closer than one pixel.
    """
    h, w = shape
    sh, sw = cells.shape
    n, _, st = change.components(cells)
    if n <= 1:
        return []
    ry, rx = h / sh, w / sw
    s = st[1:, :4].astype(np.float64)
    b = np.empty((n - 1, 4), np.int64)
    b[:, 0] = np.floor(s[:, 1] * ry) - 1 - margin
    b[:, 1] = np.ceil((s[:, 1] + s[:, 3]) * ry) + 1 + margin
    b[:, 2] = np.floor(s[:, 0] * rx) - 1 - margin
    b[:, 3] = np.ceil((s[:, 0] + s[:, 2]) * rx) + 1 + margin
    np.clip(b[:, :2], 0, h, out=b[:, :2])
    np.clip(b[:, 2:], 0, w, out=b[:, 2:])
    b = merge_boxes(b)
    order = np.lexsort((b[:, 2], b[:, 0]))
    return [tuple(int(v) for v in b[i]) for i in order]  # type: ignore[misc]


def merge_boxes(b: np.ndarray) -> np.ndarray:
    """Merge ``(y0, y1, x0, x1)`` boxes that overlap or touch until none do."""
    while len(b) > 1:
        ov = (
            (b[:, None, 0] <= b[None, :, 1]) & (b[None, :, 0] <= b[:, None, 1])
            & (b[:, None, 2] <= b[None, :, 3]) & (b[None, :, 2] <= b[:, None, 3])
        )
        n = len(b)
        lab = np.arange(n, dtype=np.int32)
        while True:  # smallest index of each connected group of boxes
            new = np.where(ov, lab[None, :], np.int32(n)).min(axis=1)
            new = new[new]
            if np.array_equal(new, lab):
                break
            lab = new
        groups = np.unique(lab)
        if len(groups) == n:
            break
        idx = np.searchsorted(groups, lab)
        nb = np.empty((len(groups), 4), np.int64)
        nb[:, [0, 2]] = np.iinfo(np.int64).max
        nb[:, [1, 3]] = np.iinfo(np.int64).min
        np.minimum.at(nb[:, 0], idx, b[:, 0])
        np.maximum.at(nb[:, 1], idx, b[:, 1])
        np.minimum.at(nb[:, 2], idx, b[:, 2])
        np.maximum.at(nb[:, 3], idx, b[:, 3])
        b = nb
    return b


@dataclass
class _Scored:
    """The costly stage's output on one box: the probability and direction evidence on its decision
    crop, and its pixels scored with the dates swapped too (None: none)."""

    crop: tuple[int, int, int, int]
    prob: np.ndarray
    direction: np.ndarray
    back: np.ndarray | None = None


@dataclass
class _BoxFeatures:
    """The features of one box's pixels to score, waiting for the window's one model call.

    Attributes:
        crop: ``(y0, y1, x0, x1)`` decision crop (the box plus margin) in the window.
        region: bool, the crop's candidates.
        scored: bool, the candidates the model is evaluated on (see ``predict_stride``).
        idx: flat indices in the crop of the rows of ``x``.
        x: ``(n, F)`` features.
        direction: direction evidence on the crop.
        back: bool candidates of the crop also scored with the dates swapped (None: none).
    """

    crop: tuple[int, int, int, int]
    region: np.ndarray
    scored: np.ndarray
    idx: np.ndarray
    x: np.ndarray
    direction: np.ndarray
    back: np.ndarray | None = None


def first_stage(
    a8: np.ndarray, b8: np.ndarray, params: DetectParams, lut: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The cheap first stage of an aligned pair: its reduced copies and candidate cells.

    Args:
        a8: before image.
        b8: after image.
        params: method parameters.
        lut: histogram table still to be applied to ``b8`` (see :class:`Aligned`): applied to its
            reduced copy (the means of matched pixels and the match of their mean differ by a
            DN or so where the table bends).

    Returns:
        ``(ra, rb, cells)``: both images reduced by :data:`FIRST_STAGE_FACTOR` (uint8 area means)
        and the bool candidate cells on that grid (see :func:`detection.change.candidate_mask`).
    """
    ra = area_mean(a8, FIRST_STAGE_FACTOR)
    rb = area_mean(b8, FIRST_STAGE_FACTOR, lut)
    cells = change.candidate_mask(
        ra, rb, params.prefilter, factor=1, dilate=params.candidate_dilate,
        cluster_cells=params.candidate_cluster_cells, cluster_dilate=params.candidate_cluster_dilate,
    )
    return ra, rb, cells


def candidate_pixels(a8: np.ndarray, b8: np.ndarray, params: DetectParams) -> np.ndarray:
    """The first stage's candidates of an aligned pair on its own grid (bool ``(h, w)``).

    The cells :func:`detect_aligned` passes on to the costly stage, as a full-size mask (training
    can draw hard negatives from them).
    """
    h, w = a8.shape[:2]
    cells = first_stage(a8, b8, params)[2].astype(np.uint8)
    return np.asarray(cv2.resize(cells, (w, h), interpolation=cv2.INTER_NEAREST)) > 0


def nearest_index(dst: int, src: int) -> np.ndarray:
    """Source index of each of ``dst`` output rows (or columns) of a nearest-neighbour resize
    from ``src``, as ``cv2.resize(..., INTER_NEAREST)`` picks them."""
    return np.minimum((np.arange(dst) * (src / dst)).astype(np.int64), src - 1)


def _box_features(
    a_w: np.ndarray,
    b_w: np.ndarray,
    lut: np.ndarray | None,
    cand: np.ndarray,
    origin: tuple[int, int],
    tight: tuple[int, int, int, int],
    stats: np.ndarray,
    margin: int,
    stride: int = 1,
) -> _BoxFeatures:
    """Features for the candidates of one box, on their tight bounds plus ``margin``.

    Args:
        a_w: before image on the working grid.
        b_w: after image.
        lut: histogram table still to be applied to ``b_w`` (None: none).
        cand: bool candidates of the box (holding its tight bounds plus ``margin``).
        origin: ``(row, col)`` of ``cand`` in the window.
        tight: ``(y0, y1, x0, x1)`` bounds of the candidates within ``cand``.
        stats: the window's cue statistics.
        margin: see :func:`box_margin`.
        stride: with ``stride`` > 1 only the window's sparse grid is scored (see
            :func:`detection.change.sparse_pixels`); the rest is filled in afterwards.
    """
    h, w = a_w.shape[:2]
    oy, ox = origin
    ty0, ty1, tx0, tx1 = tight[0] + oy, tight[1] + oy, tight[2] + ox, tight[3] + ox
    dy0, dy1, dx0, dx1 = max(0, ty0 - margin), min(h, ty1 + margin), max(0, tx0 - margin), min(w, tx1 + margin)
    cw = dx1 - dx0
    region = cand[dy0 - oy : dy1 - oy, dx0 - ox : dx1 - ox]
    sel = change.sparse_pixels(region, stride, (dy0, dx0))
    direction = np.zeros((dy1 - dy0, cw), np.float32)
    idxs: list[np.ndarray] = []
    xs: list[np.ndarray] = []
    for py0 in range(ty0, ty1, TILE):
        for px0 in range(tx0, tx1, TILE):
            py1, px1 = min(py0 + TILE, ty1), min(px0 + TILE, tx1)
            if not region[py0 - dy0 : py1 - dy0, px0 - dx0 : px1 - dx0].any():
                continue
            # full context towards the box's other pieces, EDGE_PAD at the box's own edges
            fy0 = max(0, py0 - (PAD if py0 > ty0 else EDGE_PAD))
            fy1 = min(h, py1 + (PAD if py1 < ty1 else EDGE_PAD))
            fx0 = max(0, px0 - (PAD if px0 > tx0 else EDGE_PAD))
            fx1 = min(w, px1 + (PAD if px1 < tx1 else EDGE_PAD))
            piece = np.zeros((fy1 - fy0, fx1 - fx0), bool)
            inner = (slice(py0 - fy0, py1 - fy0), slice(px0 - fx0, px1 - fx0))
            piece[inner] = sel[py0 - dy0 : py1 - dy0, px0 - dx0 : px1 - dx0]
            idx, x, d = change.region_features(
                a_w[fy0:fy1, fx0:fx1], align.apply_lut(b_w[fy0:fy1, fx0:fx1], lut), region=piece, stats=stats,
            )
            direction[py0 - dy0 : py1 - dy0, px0 - dx0 : px1 - dx0] = d[inner]
            # piece pixel -> crop pixel
            r, c = np.divmod(idx, fx1 - fx0)
            idxs.append((r + fy0 - dy0) * cw + (c + fx0 - dx0))
            xs.append(x)
    idx_all = np.concatenate(idxs) if idxs else np.zeros(0, np.int64)
    x_all = np.concatenate(xs) if xs else np.zeros((0, change.N_FEATURES), np.float32)
    return _BoxFeatures((dy0, dy1, dx0, dx1), region, sel, idx_all, x_all, direction)


def _score_boxes(boxes: list[_BoxFeatures], model: Any, stride: int) -> list[_Scored]:
    """The model on the features of all boxes of a window in one call, then each box filled in.

    Where a box looks back (see :func:`detect_aligned`), the rows are also scored with the dates
    swapped: the probability is the larger of both, and which of them is larger says whether the
    structure appeared or vanished (the model's own answer, in place of the cue-based direction).
    """
    sizes = [bf.idx.size for bf in boxes]
    if not sum(sizes):
        return []
    x = np.concatenate([bf.x for bf in boxes])
    p = change.predict_change(model, x)
    rows = [np.zeros(bf.idx.size, bool) if bf.back is None else bf.back.ravel()[bf.idx] for bf in boxes]
    sel = np.concatenate(rows)
    rev = np.zeros_like(p)
    if sel.any():
        rev[sel] = change.predict_reversed(model, x[sel])
    out = []
    start = 0
    for bf, n, back_rows in zip(boxes, sizes, rows, strict=True):
        pf, pr = p[start : start + n], rev[start : start + n]
        start += n
        prob = np.zeros(bf.region.shape, np.float32)
        prob.ravel()[bf.idx] = np.maximum(pf, pr)
        direction = bf.direction
        if bf.back is not None:
            d = np.zeros(bf.region.shape, np.float32)
            d.ravel()[bf.idx] = (pf - pr) * np.float32(LOOK_BACK_DIRECTION)
            scored = np.zeros(bf.region.shape, bool)
            scored.ravel()[bf.idx[back_rows]] = True
            with np.errstate(invalid="ignore", divide="ignore"):  # a pixel with no scored neighbour
                filled = change.fill_sparse(d, scored, bf.back, stride)  # in the region keeps its cue
            direction = np.where(bf.back & np.isfinite(filled), filled, direction)
        out.append(_Scored(bf.crop, change.fill_sparse(prob, bf.scored, bf.region, stride), direction, bf.back))
    return out


def lightness(rgb: np.ndarray) -> np.ndarray:
    """The guide of :func:`detection.change.guided_smooth`: ``(h, w)`` float32 grey in 0..1."""
    grey = cv2.cvtColor(np.ascontiguousarray(rgb, np.uint8), cv2.COLOR_RGB2GRAY)
    return np.asarray(grey, np.float32) * np.float32(1.0 / 255.0)


def refine(
    prob: np.ndarray, guide: np.ndarray, factor: float, params: DetectParams, veto: np.ndarray | None = None
) -> np.ndarray:
    """The probability at the window's own prior, smoothed within regions of the after image, and
    0 at the ``veto`` pixels before and after the smoothing (None: none)."""
    p = change.adjust_odds(prob, factor)
    if veto is not None:
        p = np.where(veto, np.float32(0.0), p)
    p = change.guided_smooth(p, guide, params.smooth_radius, params.smooth_eps)
    return p if veto is None else np.where(veto, np.float32(0.0), p)


def _finish_box(
    sc: _Scored, b_w: np.ndarray, lut: np.ndarray | None, raw_w: np.ndarray, factor: float, params: DetectParams,
    min_area_px: int,
) -> Patch | None:
    """Prior correction, vegetation veto, smoothing and blob decisions on one scored box (``lut``:
    see :func:`_box_features`; ``raw_w``: the after image as captured, for the veto).

    Each step runs on the part of the box it can change: the smoothing on the bounds of the
    probabilities plus its reach (2 radii) and a pixel (the reach of the veto's 3x3 mean), the
    decisions on the bounds of the smoothed pixels above ``params.threshold`` plus theirs
    (:data:`DECIDE_REACH`). Beyond those nothing can change: where a box of the guided filter holds
    no probability its coefficients are 0, whatever the lightness, and the decisions start from
    pixels above the threshold and reach no farther. On the 10k speed pair that is 40 % of the
    boxes' pixels for the smoothing and 16 % for the decisions.
    """
    cy0, _, cx0, _ = sc.crop
    sm = _bounds(sc.prob > 0, 2 * max(0, params.smooth_radius) + 1)
    if sm is None:
        return None
    ys, xs = slice(sm[0], sm[1]), slice(sm[2], sm[3])
    wy, wx = slice(cy0 + sm[0], cy0 + sm[1]), slice(cx0 + sm[2], cx0 + sm[3])
    direction = sc.direction[ys, xs]
    veto = None
    if params.vegetation_veto is not None:
        # vegetation of the after image is no structure that appeared; where the model looks back,
        # the pixels it finds vanished keep their probability (demolished ground is often grass).
        # Dropping vegetated candidates before the costly stage instead saved 3 % of the 5k speed
        # pair's time and lost dsifn object recall held out (.800 -> .785: the window's share of
        # change, and so its prior, falls).
        veto = change.vegetated(raw_w[wy, wx], params.vegetation_veto)
        if sc.back is not None:
            veto &= ~(sc.back[ys, xs] & (direction < 0))
    prob = refine(sc.prob[ys, xs], lightness(align.apply_lut(b_w[wy, wx], lut)), factor, params, veto)
    dc = _bounds(prob >= params.threshold, DECIDE_REACH)
    if dc is None:
        return None
    ds = (slice(dc[0], dc[1]), slice(dc[2], dc[3]))
    mask, score = change.decide(
        np.ascontiguousarray(prob[ds]), np.ascontiguousarray(direction[ds]), threshold=params.threshold,
        seed_threshold=params.seed_threshold, blob_score=params.blob_score, min_area_px=min_area_px,
        grow_steps=params.grow_steps,
    )
    return _trim(Patch(cy0 + sm[0] + dc[0], cx0 + sm[2] + dc[2], mask, score))


def _bounds(m: np.ndarray, pad: int) -> tuple[int, int, int, int] | None:
    """``(y0, y1, x0, x1)``: the bounds of the True pixels of ``m`` grown by ``pad`` and clipped to
    ``m`` (None when there are none)."""
    rows = np.flatnonzero(m.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(m.any(axis=0))
    h, w = m.shape
    return (max(0, int(rows[0]) - pad), min(h, int(rows[-1]) + 1 + pad),
            max(0, int(cols[0]) - pad), min(w, int(cols[-1]) + 1 + pad))


def _trim(p: Patch) -> Patch | None:
    """The patch cut to the bounds of its changed pixels (None when it has none)."""
    b = _bounds(p.mask > 0, 0)
    if b is None:
        return None
    r0, r1, c0, c1 = b
    return Patch(p.row + r0, p.col + c0, p.mask[r0:r1, c0:c1].copy(), p.score[r0:r1, c0:c1].copy())


def _to_native(p: Patch, work: tuple[int, int], native: tuple[int, int]) -> Patch:
    """A working-resolution patch on the native grid (nearest neighbour, as ``cv2.resize``)."""
    (wh, ww), (h, w) = work, native

    def span(o: int, n: int, src: int, dst: int) -> tuple[int, np.ndarray]:
        lo = max(0, int(np.floor(o * dst / src)) - 1)
        hi = min(dst, int(np.ceil((o + n) * dst / src)) + 1)
        idx = np.arange(lo, hi)
        s = np.minimum((idx * (src / dst)).astype(np.int64), src - 1)
        keep = (s >= o) & (s < o + n)
        return int(idx[keep][0]), s[keep] - o

    r0, rs = span(p.row, p.mask.shape[0], wh, h)
    c0, cs = span(p.col, p.mask.shape[1], ww, w)
    return Patch(r0, c0, p.mask[np.ix_(rs, cs)], p.score[np.ix_(rs, cs)])


def _mask_invalid(p: Patch, valid: np.ndarray) -> Patch | None:
    v = valid[p.row : p.row + p.mask.shape[0], p.col : p.col + p.mask.shape[1]]
    if v.all():
        return p
    mask, score = p.mask.copy(), p.score.copy()
    mask[~v] = 0
    score[~v] = 0
    return _trim(Patch(p.row, p.col, mask, score))
