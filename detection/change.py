"""The change method: building cues per pixel, a learned per-pixel probability, blob decisions.

The method works on two co-registered, radiometrically normalised RGB arrays
``(h, w, 3)`` float32 in 0..255 in these steps:

1. :func:`candidate_mask` -- a cheap test on a 4x-reduced image that discards the large
   unchanged part of a real pair;
2. :func:`change_probability` -- structure-specific cues (brightness, greyness and blueness of
   roofs, vegetation loss, a morphological building index, local structure similarity, edge
   density) at several scales, turned into a change probability by a small gradient-boosted
   tree model trained on open data (see :mod:`detection.training.train`);
3. :func:`prior_factor`, :func:`vegetated` and :func:`guided_smooth` -- the probabilities moved
   to the window's own share of change, 0 where the after image as captured is vegetation, and
   spread over regions of homogeneous brightness of the after image;
4. :func:`decide` -- hysteresis on the probability, morphological cleaning and blob-level
   decisions (minimum area, peak and mean probability), then the direction of each blob
   (appeared vs disappeared) from the sign of its building-cue change.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from detection import feature_rows
from detection.errors import ModelError
from detection.forest import Forest
from detection.types import APPEARED, DISAPPEARED

DEFAULT_MODEL = Path(__file__).resolve().parent / "models" / "change_hgb.joblib"

_ELLIPSE = {k: cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)) for k in (3, 5, 7, 9, 15, 25)}

#: Reach (pixels) of the widest filter chain of :func:`pair_features`: a 15x15 top-hat (an
#: erosion and a dilation, 7 px each) followed by a 25x25 box (12 px) is 26 px; a feature at a
#: pixel depends on nothing farther away.
CONTEXT_PX = 26

#: Names of the per-image cues, in feature order.
CUE_NAMES = ("L", "a", "b", "sat", "exg", "wth", "bth", "grad", "std")


def disc(k: int) -> np.ndarray:
    """The ``k x k`` elliptic structuring element."""
    if k not in _ELLIPSE:
        _ELLIPSE[k] = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    return _ELLIPSE[k]


def _box(x: np.ndarray, k: int) -> np.ndarray:
    return cv2.blur(x, (k, k), borderType=cv2.BORDER_REFLECT)


#: 8-bit Lab (OpenCV) lightness to L 0..100.
_L8_SCALE = np.float32(100.0 / 255.0)


def image_cues(rgb: np.ndarray) -> np.ndarray:
    """Per-pixel cues of one image (see :func:`_cues`)."""
    return _cues(rgb)[0]


def _cues(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Per-pixel cues of one image, and the lightness moments and derivatives behind them.

    Args:
        rgb: ``(h, w, 3)`` RGB in 0..255: uint8, or float32 (rounded for the colour space).

    Returns:
        ``(len(CUE_NAMES), h, w)`` float32 planes: Lab, saturation (low = grey roofs), excess
        green (vegetation), white and black top-hats of lightness (bright compact objects and
        their shadows: a morphological building index), gradient magnitude and local standard
        deviation; then the 7x7 mean and variance of lightness and its 3x3 Sobel derivatives
        ``(gx, gy)`` (the similarity and structure features reuse them).
    """
    if rgb.dtype == np.uint8:
        x8 = np.ascontiguousarray(rgb)
        # max and min of the 8-bit bands, then float: integers, so exactly the float values
        b8s = cv2.split(x8)
        r, g, bl = (np.asarray(c, np.float32) for c in b8s)
        mx = np.asarray(cv2.max(cv2.max(b8s[0], b8s[1]), b8s[2]), np.float32)
        mn = np.asarray(cv2.min(cv2.min(b8s[0], b8s[1]), b8s[2]), np.float32)
    else:
        x = np.clip(rgb, 0, 255).astype(np.float32)
        x8 = np.asarray(np.rint(x), np.uint8)
        r, g, bl = (np.asarray(c, np.float32) for c in cv2.split(x))
        mx = np.asarray(cv2.max(cv2.max(r, g), bl), np.float32)
        mn = np.asarray(cv2.min(cv2.min(r, g), bl), np.float32)
    h, w = x8.shape[:2]
    out = np.empty((len(CUE_NAMES), h, w), np.float32)
    # Lab of the 8-bit colours (OpenCV's table-driven path: several times faster than float Lab;
    # the imagery is 8-bit anyway), rescaled to L 0..100 and a, b about -127..127
    lab8 = [np.asarray(c, np.uint8) for c in cv2.split(cv2.cvtColor(x8, cv2.COLOR_RGB2Lab))]
    np.multiply(lab8[0], _L8_SCALE, out=out[0], dtype=np.float32)
    np.subtract(lab8[1], np.float32(128.0), out=out[1], dtype=np.float32)
    np.subtract(lab8[2], np.float32(128.0), out=out[2], dtype=np.float32)
    lum = out[0]
    np.divide(mx - mn, mx + np.float32(8.0), out=out[3])
    excess_green(r, g, bl, out=out[4])
    # top-hats on the 8-bit lightness (exact integers; scaling commutes with them)
    k = _ELLIPSE[15]
    np.multiply(cv2.morphologyEx(lab8[0], cv2.MORPH_TOPHAT, k), _L8_SCALE, out=out[5], dtype=np.float32)
    np.multiply(cv2.morphologyEx(lab8[0], cv2.MORPH_BLACKHAT, k), _L8_SCALE, out=out[6], dtype=np.float32)
    gx = cv2.Sobel(lum, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(lum, cv2.CV_32F, 0, 1, ksize=3)
    out[7] = _box(cv2.magnitude(gx, gy), 5)
    m = _box(lum, 7)
    var = np.maximum(_box(lum * lum, 7) - m * m, 0.0)
    np.sqrt(var, out=out[8])
    return out, m, var, (gx, gy)


def excess_green(r: np.ndarray, g: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The vegetation cue ``(2G - R - B) / (R + G + B + 24)`` of float32 band planes (into ``out``)."""
    return np.divide(2.0 * g - r - b, r + g + b + np.float32(24.0), out=out)


def vegetated(rgb: np.ndarray, level: float) -> np.ndarray:
    """Bool ``(h, w)``: pixels of a uint8 RGB image whose own colour and 3x3 mean colour both have
    an :func:`excess_green` above ``level``.

    The mean keeps colour noise of single pixels on a grey roof out; the pixel's own colour keeps a
    roof's edge beside a lawn in (its mean is partly green). Meant for an image as captured:
    radiometric matching moves its colours towards the other date's (see
    ``DetectParams.vegetation_veto``).
    """
    # excess green > level  <=>  (2 - level) G - (1 + level) (R + B) - 24 level > 0: linear in the
    # colour, so the test of the mean colour is the mean of that score
    weights = np.array([[-(1.0 + level), 2.0 - level, -(1.0 + level)]], np.float32)
    score = np.asarray(cv2.transform(np.asarray(rgb, np.float32), weights), np.float32) - np.float32(24.0 * level)
    return np.asarray((score > 0) & (cv2.blur(score, (3, 3), borderType=cv2.BORDER_REFLECT) > 0))


#: Reduction of the copy the cue statistics are taken from. 8 would save an eighth of the detect
#: time but lost dsifn object recall held out, twice (.72 -> .69; with the candidate-focused
#: training .77 -> .71).
STATS_FACTOR = 4


def cue_stats(a: np.ndarray, b: np.ndarray, reduced: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Per-image statistics used to normalise the cues (from a reduced copy: cheap).

    Computing them once per window, not per crop, keeps every crop of a window on one scale.

    Args:
        a: before ``(h, w, 3)`` RGB 0..255 (any numeric dtype).
        b: after image.
        reduced: the pair already reduced by :data:`STATS_FACTOR` (a window's first-stage copy);
            None to reduce it here (area means).

    Returns:
        ``(3, 2, C)`` float32: mean and standard deviation of the cues of A, B and B - A.
    """
    h, w = a.shape[:2]
    if reduced is None:
        size = (max(8, w // STATS_FACTOR), max(8, h // STATS_FACTOR))
        ra = cv2.resize(a.astype(np.float32), size, interpolation=cv2.INTER_AREA)
        rb = cv2.resize(b.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    else:
        ra, rb = reduced
    ca, cb = _sampled_cues(ra), _sampled_cues(rb)
    out = np.empty((3, 2, ca.shape[0]), np.float32)
    for i, c in enumerate((ca, cb, cb - ca)):
        for j, plane in enumerate(c):
            # accumulated in double precision (OpenCV: several times faster than numpy's float32
            # reductions, and more exact)
            mean, std = cv2.meanStdDev(plane)
            out[i, 0, j] = mean[0, 0]
            out[i, 1, j] = std[0, 0] + 1e-3
    return out


#: Reduced copies taller than this give their statistics from two bands of a quarter of their rows.
STATS_BANDS_FROM = 320
#: Reach (pixels) of :func:`image_cues`' widest filter chain (the 15x15 top-hat).
CUE_REACH = 14


def _sampled_cues(x: np.ndarray) -> np.ndarray:
    """The cues of ``x`` (all of them) or, for a tall copy (a whole window's), of its second and
    fourth quarter of rows only: computed with their context, so each value is what the whole
    copy would give, at 60 % of the cost, and half the rows are plenty for a mean and a spread."""
    h = x.shape[0]
    if h <= STATS_BANDS_FROM:
        return image_cues(x)
    q, m = h // 4, CUE_REACH
    bands = [image_cues(x[r0 - m : r0 + q + m])[:, m : m + q] for r0 in (q, 3 * q)]
    return np.concatenate(bands, axis=1)


#: Signs of the normalised cue changes that together say "a structure appeared" (B vs A):
#: brighter, greyer, bluer, less vegetated, more compact bright objects and shadows, more edges.
_APPEAR_SIGNS = {"L": 1.0, "b": -1.0, "sat": -1.0, "exg": -1.0, "wth": 1.0, "bth": 1.0, "grad": 1.0}


def pair_features(a: np.ndarray, b: np.ndarray, stats: np.ndarray | None = None) -> np.ndarray:
    """Per-pixel features of a co-registered pair, normalised per image.

    Args:
        a: before image, ``(h, w, 3)`` RGB 0..255 (uint8 or float32).
        b: after image, same shape, radiometrically matched to ``a``.
        stats: output of :func:`cue_stats` for the whole window (computed here when None).

    Returns:
        ``(h, w, F)`` float32 feature stack (see :func:`feature_names`).
    """
    planes = np.concatenate([blk.full() for blk in _feature_blocks(a, b, stats)])
    return np.ascontiguousarray(np.moveaxis(planes, 0, -1), dtype=np.float32)


class _Block:
    """Feature columns as ``(k, h, w)`` planes, optionally normalised only when read."""

    def __init__(self, planes: np.ndarray, mean: np.ndarray | None = None, std: np.ndarray | None = None) -> None:
        self.planes = planes if planes.ndim == 3 else planes[None]
        self.mean = None if mean is None else mean[:, None]
        self.std = None if std is None else std[:, None]

    @property
    def k(self) -> int:
        """Number of columns."""
        return int(self.planes.shape[0])

    def full(self) -> np.ndarray:
        """``(k, h, w)`` values everywhere."""
        if self.mean is None or self.std is None:
            return self.planes
        return (self.planes - self.mean[:, :, None]) / self.std[:, :, None]


def _feature_blocks(a: np.ndarray, b: np.ndarray, stats: np.ndarray | None) -> list[_Block]:
    """The columns of :func:`pair_features` as blocks, in order.

    Cast-shadow cues were measured and not added: the largest darkening (and brightening) of
    lightness 4 and 8 px away in any of eight directions, so that a new roof beside its new shadow
    differs from new ground. Held out tile by tile F1 moved within a retrain's spread (levir .477
    -> .471, dsifn .580 -> .574 with object recall .800 -> .754, levir_tiles .413 -> .430, egy
    .744 -> .751), and set by set as well (levir .463 -> .466, dsifn .531 -> .527, levir_tiles
    .154 -> .155, egy .714 -> .707).
    """
    if stats is None:
        stats = cue_stats(a, b)
    ca, ma7, va7, grad_a = _cues(a)
    cb, mb7, vb7, grad_b = _cues(b)
    zd = np.subtract(cb, ca)  # in place from here: the stack is the costly stage's largest
    zd -= stats[2, 0][:, None, None]
    zd /= stats[2, 1][:, None, None]
    feats = [_Block(ca, stats[0, 0], stats[0, 1]), _Block(cb, stats[1, 0], stats[1, 1]), _Block(zd)]
    # colour difference magnitude at several scales, relative to the window's typical difference
    dlab = np.sqrt(zd[0] ** 2 + zd[1] ** 2 + zd[2] ** 2)
    feats += [_Block(dlab)] + [_Block(_box(dlab, k)) for k in (5, 15, 31)]
    # local structure similarity of lightness (SSIM-like correlation) at two scales
    la, lb = ca[0], cb[0]
    for k in (7, 15):
        if k == 7:
            ma, mb, va, vb = ma7, mb7, va7, vb7
        else:
            ma, mb = _box(la, k), _box(lb, k)
            va = np.maximum(_box(la * la, k) - ma * ma, 0.0)
            vb = np.maximum(_box(lb * lb, k) - mb * mb, 0.0)
        cov = _box(la * lb, k) - ma * mb
        c2 = 6.5
        feats.append(_Block((2 * cov + c2) / (va + vb + c2)))
    # a hand-made building-change score in both directions, at three scales
    idx = {n: i for i, n in enumerate(CUE_NAMES)}
    app = sum(sg * zd[idx[n]] for n, sg in _APPEAR_SIGNS.items()) / len(_APPEAR_SIGNS)
    app = np.asarray(app, np.float32)
    s, e = idx["sat"], idx["exg"]
    zb_s = (cb[s] - stats[1, 0, s]) / stats[1, 1, s]
    zb_e = (cb[e] - stats[1, 0, e]) / stats[1, 1, e]
    za_s = (ca[s] - stats[0, 0, s]) / stats[0, 1, s]
    za_e = (ca[e] - stats[0, 0, e]) / stats[0, 1, e]
    up = app + 0.5 * (-(zb_s + zb_e) * 0.5)
    down = -app + 0.5 * (-(za_s + za_e) * 0.5)
    feats += [_Block(up), _Block(down)]
    for k in (9, 25):
        feats += [_Block(_box(up, k)), _Block(_box(down, k))]
    # wider context of the signed cue changes
    feats += [_Block(_box(zd[i], 25)) for i in (0, 3, 4, 5, 7)]
    # straight edges and corners (roofs) versus isotropic texture (trees, soil), before and after
    coh_a, cor_a = structure_cues(*grad_a)
    coh_b, cor_b = structure_cues(*grad_b)
    dcoh, dcor = coh_b - coh_a, cor_b - cor_a
    feats += [_Block(f) for f in (coh_a, coh_b, dcoh, cor_a, cor_b, dcor)]
    feats += [_Block(_box(dcoh, 9)), _Block(_box(dcor, 9)), _Block(_box(dcoh, 25)), _Block(_box(dcor, 25))]
    return feats


def _column(blocks: list[_Block], j: int) -> np.ndarray:
    """Column ``j`` of the stacked ``blocks`` as an ``(h, w)`` array (of a block read as it is)."""
    for blk in blocks:
        if j < blk.k:
            if blk.mean is not None:
                raise ValueError("feature column is normalised when read")
            return np.asarray(blk.planes[j])
        j -= blk.k
    raise IndexError("feature column out of range")


def _gather(blocks: list[_Block], flat: np.ndarray) -> np.ndarray:
    """The stacked ``blocks`` at the row-major pixel indices ``flat``: ``(n, F)`` float32, no full
    stack built."""
    mean = np.concatenate([np.zeros(blk.k, np.float32) if blk.mean is None else blk.mean[:, 0] for blk in blocks])
    std = np.concatenate([np.ones(blk.k, np.float32) if blk.std is None else blk.std[:, 0] for blk in blocks])
    # row by row: the trees walk each row
    return feature_rows.gather([blk.planes for blk in blocks], flat, mean, std)


def structure_cues(gx: np.ndarray, gy: np.ndarray, k: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Edge coherence and corner strength of a lightness image (from the structure tensor).

    Roof outlines are straight, oriented edges meeting at corners; tree crowns, grass and soil
    are isotropic texture. Held out on the open sets, adding these raised the pooled F1 on every
    set (e.g. egy .57 -> .66, levir_tiles .14 -> .19).

    Args:
        gx: ``(h, w)`` float32 horizontal 3x3 Sobel derivative of lightness (Lab L, 0..100).
        gy: the vertical one.
        k: box size over which the tensor is averaged.

    Returns:
        ``(coherence, corner)``: coherence in 0..1 (damped where gradients are weak) and
        ``log(1 + smaller eigenvalue)``.
    """
    jxx, jyy, jxy = _box(gx * gx, k), _box(gy * gy, k), _box(gx * gy, k)
    trace = jxx + jyy
    disc = np.sqrt((jxx - jyy) ** 2 + 4.0 * jxy * jxy)
    coherence = disc / (trace + 100.0)
    corner = np.log1p(np.maximum(0.5 * (trace - disc), 0.0))
    return coherence, corner


def feature_names() -> list[str]:
    """Names of the columns of :func:`pair_features`."""
    names = [f"zA_{n}" for n in CUE_NAMES] + [f"zB_{n}" for n in CUE_NAMES] + [f"zd_{n}" for n in CUE_NAMES]
    names += ["dlab", "dlab5", "dlab15", "dlab31", "ssim7", "ssim15"]
    names += ["up", "down", "up9", "down9", "up25", "down25"]
    names += [f"ctx25_zd_{CUE_NAMES[i]}" for i in (0, 3, 4, 5, 7)]
    names += ["cohA", "cohB", "dcoh", "corA", "corB", "dcor", "dcoh9", "dcor9", "dcoh25", "dcor25"]
    return names


def _reversal() -> tuple[np.ndarray, np.ndarray]:
    """Column order and signs that turn the features of a pair into those of the pair with its
    dates swapped (after matched, before): A and B cues trade places, their differences change
    sign, symmetric measures stay."""
    names = feature_names()
    pairs = {"zA_": "zB_", "zB_": "zA_", "up": "down", "down": "up", "cohA": "cohB", "cohB": "cohA",
             "corA": "corB", "corB": "corA"}

    def partner(n: str) -> str:
        # a prefix of the cue names (zA_L) or a whole name with an optional box size (up, up9)
        for src, dst in pairs.items():
            rest = n[len(src):]
            if n.startswith(src) and (src.endswith("_") or rest == "" or rest.isdigit()):
                return dst + rest
        return n

    order = [names.index(partner(n)) for n in names]
    sign = [-1.0 if n.startswith(("zd_", "ctx25_zd_", "dcoh", "dcor")) else 1.0 for n in names]
    return np.asarray(order), np.asarray(sign, np.float32)


_REVERSAL = _reversal()
_UP9 = feature_names().index("up9")
_DOWN9 = feature_names().index("down9")
N_FEATURES = len(feature_names())


# ----------------------------------------------------------------------------- stage 1
def _range_excess(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """How far ``x`` lies outside the 3x3 min..max range of ``y`` (max over bands; uint8)."""
    hi = cv2.dilate(y, _ELLIPSE[3])
    lo = cv2.erode(y, _ELLIPSE[3])
    d = np.asarray(cv2.max(cv2.subtract(x, hi), cv2.subtract(lo, x)))
    if d.ndim == 2:
        return d
    bands = cv2.split(d)  # band planes: numpy's reduction over the last axis (or strided bands) is slow
    out = bands[0]
    for plane in bands[1:]:
        out = cv2.max(out, plane)
    return np.asarray(out)


def components(mask: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """8-connected components of a uint8 mask: ``(n, labels, stats)`` as
    ``cv2.connectedComponentsWithStats`` gives them, by Grana's block-based labelling, which takes
    a third of the time of OpenCV's default on the sparse masks of the first stage (0.55 against
    1.8 ms on a window's 544 x 544 cells)."""
    n, lab, st, _ = cv2.connectedComponentsWithStatsWithAlgorithm(mask, 8, cv2.CV_32S, cv2.CCL_GRANA)
    return int(n), lab, st


def _median_u8(x: np.ndarray) -> float:
    """``np.median`` of a uint8 array, from its histogram (no sort)."""
    counts = np.cumsum(np.bincount(x.ravel(), minlength=256))
    n = int(counts[-1])
    lo = int(np.searchsorted(counts, (n - 1) // 2, side="right"))  # the middle value(s), 0-based
    hi = int(np.searchsorted(counts, n // 2, side="right"))
    return (lo + hi) / 2.0


def candidate_mask(
    a: np.ndarray, b: np.ndarray, threshold: float, factor: int = 4, relative: float = 0.0, dilate: int = 9,
    cluster_cells: int = 30, cluster_dilate: int = 15,
) -> np.ndarray:
    """Cheap first stage: where could anything have changed?

    Works on a ``factor``-times reduced pair (area averages). A cell changes only when each image
    lies outside the 3x3 min..max range of the other (a range test: a shift of up to about
    ``factor`` native pixels, i.e. a pixel or two of misregistration, and noise do not trigger it).
    The level is ``max(threshold, median + relative * 1.48 MAD)`` of that excess over the window,
    so it follows the image's own difference statistics. Candidates are opened (isolated cells
    dropped) and dilated; groups of at least ``cluster_cells`` cells (a changed area the size of a
    building site, where more changes tend to lie close by) are dilated farther.

    Args:
        a: before ``(h, w, 3)`` RGB uint8 (0..255).
        b: after, same shape, radiometrically matched.
        threshold: the lowest level (0..255 scale) at which a cell may be a candidate.
        factor: reduction factor.
        relative: weight of the robust spread in the level. 0 by default: on the open labelled
            sets any positive weight dropped real changes (held-out egy F1 .56 -> .50 at 0.5)
            while the synthetic speed pair needs no help to stay clean.
        dilate: side (cells) of the disc the candidates are dilated by.
        cluster_cells: candidate groups (8-connected, before dilation) of at least this many
            cells are dilated by ``cluster_dilate`` instead; 0 for none.
        cluster_dilate: side (cells) of the disc those groups are dilated by.

    Returns:
        ``(ceil(h/factor), ceil(w/factor))`` bool mask of candidate cells.
    """
    h, w = a.shape[:2]
    sh, sw = max(1, -(-h // factor)), max(1, -(-w // factor))
    ra = cv2.resize(np.asarray(a, np.uint8), (sw, sh), interpolation=cv2.INTER_AREA)
    rb = cv2.resize(np.asarray(b, np.uint8), (sw, sh), interpolation=cv2.INTER_AREA)
    d = np.minimum(_range_excess(rb, ra), _range_excess(ra, rb))
    sample = d[::2, ::2] if d.size > 40_000 else d
    med = _median_u8(sample)
    level = max(float(threshold), med)
    if relative:
        mad = float(np.median(np.abs(sample.astype(np.float32) - med))) * 1.4826
        level = max(level, med + relative * mad)
    cand = (d > level).astype(np.uint8)
    cand = cv2.morphologyEx(cand, cv2.MORPH_OPEN, _ELLIPSE[3])
    out = cv2.dilate(cand, disc(dilate)) if dilate > 1 else cand
    if cluster_cells > 0 and cluster_dilate > dilate:
        _, lab, st = components(cand)
        big = np.flatnonzero(st[1:, cv2.CC_STAT_AREA] >= cluster_cells) + 1
        if big.size:
            sel = np.isin(lab, big).astype(np.uint8)
            out = np.maximum(out, cv2.dilate(sel, disc(cluster_dilate)))
    return out.astype(bool)


# ----------------------------------------------------------------------------- stage 2
_MODEL_LOCK = threading.Lock()


_LIMITED: list[Any] = []


def _one_thread() -> Any:
    """Keep scikit-learn's OpenMP to one thread: parallelism comes from the windows (Dask workers).

    The limit is set once per process (threadpoolctl's library scan is slow) and kept.
    """
    from contextlib import nullcontext

    if not _LIMITED:
        from threadpoolctl import threadpool_limits

        _LIMITED.append(threadpool_limits(limits=1, user_api="openmp"))
    return nullcontext()


@lru_cache(maxsize=4)
def load_model(path: str | None = None) -> Any:
    """Load the learned pixel model (cached per path).

    Args:
        path: a joblib file written by :mod:`detection.training.train`; None for the default.

    Raises:
        ModelError: the file is missing or cannot be read.
    """
    import joblib

    p = Path(path) if path else DEFAULT_MODEL
    with _MODEL_LOCK:
        try:
            bundle = joblib.load(p)
        except FileNotFoundError as exc:
            raise ModelError(f"change model not found: {p} (run python -m detection.training.train)") from exc
        except Exception as exc:  # unpickling errors come in many types
            raise ModelError(f"change model {p} cannot be read: {exc}") from exc
    if not isinstance(bundle, dict) or bundle.get("features") != feature_names():
        raise ModelError(f"change model {p} was trained on other features; retrain it")
    return bundle["model"]


def change_probability(
    a: np.ndarray, b: np.ndarray, model: Any, region: np.ndarray | None = None, stats: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel change probability.

    Args:
        a: before ``(h, w, 3)`` float32 RGB 0..255.
        b: after, matched to ``a``.
        model: a fitted classifier with ``predict_proba``.
        region: optional bool ``(h, w)``; only these pixels are scored (others get 0).
        stats: cue statistics of the whole window (see :func:`cue_stats`).

    Returns:
        ``(prob, direction)``: ``(h, w)`` float32 probability of change and the direction evidence
        (positive: a structure appeared; negative: one disappeared).
    """
    idx, x, direction = region_features(a, b, region, stats)
    prob = np.zeros(a.shape[:2], dtype=np.float32)
    if idx.size:
        prob.ravel()[idx] = predict_change(model, x)
    return prob, direction


def region_features(
    a: np.ndarray, b: np.ndarray, region: np.ndarray | None = None, stats: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The features of the pixels of ``region`` and the direction evidence everywhere.

    Args:
        a: before ``(h, w, 3)`` RGB 0..255 (uint8 or float32).
        b: after, matched to ``a``.
        region: optional bool ``(h, w)`` pixels whose features are wanted (None: all).
        stats: cue statistics of the whole window (see :func:`cue_stats`).

    Returns:
        ``(idx, x, direction)``: flat indices of the region's pixels (row-major), their ``(n, F)``
        features and the ``(h, w)`` float32 direction evidence (positive: a structure appeared).
    """
    blocks = _feature_blocks(a, b, stats)
    h, w = a.shape[:2]
    direction = np.asarray(_column(blocks, _UP9) - _column(blocks, _DOWN9), np.float32)
    idx = np.arange(h * w) if region is None else np.flatnonzero(region.ravel())
    return idx, _gather(blocks, idx), direction


def predict_reversed(model: Any, x: np.ndarray) -> np.ndarray:
    """Probability that a structure vanished, for each row of features ``x``.

    The model learnt change mostly as structures appearing (the open sets hold few demolitions:
    of the generated pair's roofs replaced by bare ground it finds none). The same pixels with
    the dates swapped (the features reordered and negated exactly, see :func:`_reversal`) ask
    whether one appeared going back in time, i.e. vanished.
    """
    order, sign = _REVERSAL
    forest = _forest(model)
    if forest is not None:
        return forest.proba(x, order, sign)
    return predict_change(model, np.asarray(x[:, order] * sign, np.float32))


def predict_change(model: Any, x: np.ndarray) -> np.ndarray:
    """Probability of change for each row of features ``x`` (float32, on one thread).

    A fitted ``HistGradientBoostingClassifier`` is evaluated by :class:`detection.forest.Forest`
    (the same values as ``predict_proba``, as a test checks, at a fraction of the cost); any other
    classifier goes through ``predict_proba``.
    """
    forest = _forest(model)
    if forest is not None:
        return forest.proba(x)
    with _one_thread():
        return np.asarray(model.predict_proba(x)[:, 1], np.float32)


@lru_cache(maxsize=8)
def _forest(model: Any) -> Forest | None:
    """The compiled evaluator of ``model`` (None when it is not a binary tree model)."""
    return Forest.from_model(model)


def sparse_pixels(region: np.ndarray, stride: int, origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """The pixels of ``region`` where the model is evaluated when it runs on a sparse grid.

    Args:
        region: bool ``(h, w)`` pixels that need a probability.
        stride: grid step (1: every pixel).
        origin: ``(row, col)`` of the array's first pixel in the window, so that every piece of a
            window uses the window's one grid.

    Returns:
        bool ``(h, w)``: region pixels on the grid, and region pixels with no grid pixel of the
        region within ``stride - 1`` pixels (thin parts), so :func:`fill_sparse` reaches all.
    """
    if stride <= 1:
        return region
    grid = np.zeros(region.shape, bool)
    grid[(-origin[0]) % stride :: stride, (-origin[1]) % stride :: stride] = True
    on = region & grid
    k = np.ones((2 * stride - 1, 2 * stride - 1), np.uint8)
    near = cv2.dilate(on.astype(np.uint8), k, borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0
    return np.asarray(on | (region & ~near))


def fill_sparse(prob: np.ndarray, scored: np.ndarray, region: np.ndarray, stride: int) -> np.ndarray:
    """Probabilities of the region pixels left out by :func:`sparse_pixels`: the mean of their
    evaluated neighbours within ``stride - 1`` pixels.

    Args:
        prob: ``(h, w)`` float32, set at ``scored`` pixels (0 elsewhere).
        scored: bool ``(h, w)`` output of :func:`sparse_pixels`.
        region: bool ``(h, w)`` pixels that need a probability.
        stride: grid step.

    Returns:
        ``(h, w)`` float32: ``prob`` at scored pixels, the neighbour mean at the rest of the
        region, 0 outside it.
    """
    if stride <= 1:
        return prob
    k = (2 * stride - 1, 2 * stride - 1)
    num = cv2.blur(prob, k, borderType=cv2.BORDER_CONSTANT)
    den = cv2.blur(scored.astype(np.float32), k, borderType=cv2.BORDER_CONSTANT)
    fill = region & ~scored
    out = prob.copy()
    out[fill] = num[fill] / den[fill]
    return out


# ----------------------------------------------------------------------------- stage 3
def prior_factor(pi: float, reference: float, gamma: float, floor: float) -> float:
    """Odds factor that moves probabilities calibrated for ``reference`` to a window's own prior.

    The model's probabilities hold for about the share of change in its training sample. A
    window where far less has changed (the usual case: a district between two flights) needs
    stronger evidence for the same precision, and one that is being built over needs less. The
    window's share ``pi`` is estimated by its mean probability (non-candidates count as 0).

    Args:
        pi: estimated share of changed pixels in the window.
        reference: share the probabilities are calibrated for.
        gamma: strength of the correction (1 = Bayes' rule on the odds).
        floor: lowest share assumed.

    Returns:
        The factor by which the odds ``p / (1 - p)`` of every pixel are multiplied.
    """
    p = min(max(pi, floor), 0.95)
    return float(((p / (1.0 - p)) / (reference / (1.0 - reference))) ** gamma)


def adjust_odds(prob: np.ndarray, factor: float) -> np.ndarray:
    """``prob`` with its odds multiplied by ``factor`` (float32; 0 stays 0)."""
    if factor == 1.0:
        return prob
    scaled = prob * np.float32(factor)
    return np.asarray(scaled / (scaled + (1.0 - prob) + 1e-12), np.float32)


def guided_smooth(prob: np.ndarray, guide: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Edge-preserving smoothing of a probability map guided by the after image (He et al. 2013).

    Spreads the evidence over each roof, yard or field of homogeneous brightness and stops at its
    edges: stray pixels fade, a roof whose interior scored weakly fills in. Held out on the open
    sets this cut false blobs by about half (e.g. egy 90 -> 27 per Mpx at the same F1).

    Args:
        prob: ``(h, w)`` float32 probability.
        guide: ``(h, w)`` float32 lightness in 0..1.
        radius: box radius in pixels (the filter reaches ``2 * radius``).
        eps: regularisation: lightness variance below which a box counts as flat.

    Returns:
        ``(h, w)`` float32 in 0..1.
    """
    if radius <= 0:
        return prob
    k = (2 * radius + 1, 2 * radius + 1)

    def box(x: np.ndarray) -> np.ndarray:
        return np.asarray(cv2.blur(x, k, borderType=cv2.BORDER_REFLECT), np.float32)

    mi, mp = box(guide), box(prob)
    cov = box(guide * prob) - mi * mp
    var = box(guide * guide) - mi * mi
    a = cov / (var + np.float32(eps))
    b = mp - a * mi
    out = box(a) * guide + box(b)
    return np.asarray(np.clip(out, 0.0, 1.0), np.float32)


def _fill_small_holes(mask: np.ndarray, max_hole: int) -> np.ndarray:
    """Fill holes (background components not touching the border) smaller than ``max_hole`` px."""
    inv = (mask == 0).astype(np.uint8)
    n, lab, st, _ = cv2.connectedComponentsWithStats(inv, connectivity=4)
    if n <= 1:
        return mask
    h, w = mask.shape
    x, y, bw, bh, area = st[:, 0], st[:, 1], st[:, 2], st[:, 3], st[:, 4]
    inner = (x > 0) & (y > 0) & (x + bw < w) & (y + bh < h) & (area <= max_hole)
    inner[0] = inner[0] and False
    fill = inner[lab]
    out = mask.copy()
    out[fill] = 1
    return out


def decide(
    prob: np.ndarray,
    direction: np.ndarray,
    *,
    threshold: float,
    seed_threshold: float,
    blob_score: float,
    min_area_px: int,
    grow_steps: int = 4,
) -> tuple[np.ndarray, np.ndarray]:
    """Turn a probability map into a labelled change mask.

    Trimming each blob to the pixels at least half as probable as the most probable one within
    8 px (the rim of a roof lies beside its peak) was measured and not built: held out tile by
    tile F1 rose a little (levir .477 -> .488, levir_tiles .413 -> .441, egy .744 -> .752, dsifn
    the same), but on a set never seen dsifn lost (.531 -> .515) and egy (.714 -> .709), and the
    generated speed pair kept its pixel F1 (.48), with more false blobs on levir, dsifn and
    levir_tiles. Within 16 px, or trimming to a share of the whole blob's peak, lost object recall
    (dsifn .80 -> .59).

    Args:
        prob: ``(h, w)`` change probability.
        direction: ``(h, w)`` direction evidence (positive = appeared), see :func:`change_probability`.
        threshold: pixels above it may join a neighbouring seed.
        seed_threshold: seed pixels are at least this probable.
        blob_score: a blob needs this mean probability.
        min_area_px: smallest blob in pixels.
        grow_steps: how many 1-px steps a seed may grow into pixels above ``threshold``.

    Returns:
        ``(mask, score)``: uint8 mask with 0 / APPEARED / DISAPPEARED and float32 per-pixel blob
        score (mean probability of its blob).
    """
    # only the surroundings of possible blobs need the morphology (most of a window is 0):
    # groups of rim pixels more than a margin apart cannot meet, so each is decided on its own
    full_shape = prob.shape
    if not (prob >= seed_threshold).any():
        return np.zeros(full_shape, np.uint8), np.zeros(full_shape, np.float32)
    f = 8
    h, w = full_shape
    if h * w > 4 * 256 * 256:
        rim_any = np.zeros((-(-h // f) * f, -(-w // f) * f), bool)
        rim_any[:h, :w] = prob >= threshold
        cells = rim_any.reshape(rim_any.shape[0] // f, f, rim_any.shape[1] // f, f).any(axis=(1, 3))
        cells8: np.ndarray = np.asarray(cells, np.uint8)
        coarse = np.asarray(cv2.dilate(cells8, _ELLIPSE[5]), np.uint8)
        n, _, st = components(coarse)
        mask_full = np.zeros(full_shape, np.uint8)
        score_full = np.zeros(full_shape, np.float32)
        for i in range(1, n):
            x, y, bw, bh = (int(v) for v in st[i, :4])
            y0, y1, x0, x1 = y * f, min(h, (y + bh) * f), x * f, min(w, (x + bw) * f)
            sub_mask, sub_score = _decide_region(
                np.ascontiguousarray(prob[y0:y1, x0:x1]), np.ascontiguousarray(direction[y0:y1, x0:x1]),
                threshold, seed_threshold, blob_score, min_area_px, grow_steps,
            )
            sel = sub_mask > 0
            mask_full[y0:y1, x0:x1][sel] = sub_mask[sel]
            score_full[y0:y1, x0:x1][sel] = sub_score[sel]
        return mask_full, score_full
    return _decide_region(prob, direction, threshold, seed_threshold, blob_score, min_area_px, grow_steps)


def _decide_region(
    prob: np.ndarray,
    direction: np.ndarray,
    threshold: float,
    seed_threshold: float,
    blob_score: float,
    min_area_px: int,
    grow_steps: int,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`decide` on one region (seeds, hysteresis growth, cleaning, blob tests)."""
    # seeds: confidently changed pixels; grown a few pixels into the less certain rim only,
    # so weak evidence never chains distant seeds into one giant blob
    seeds = cv2.morphologyEx((prob >= seed_threshold).astype(np.uint8), cv2.MORPH_OPEN, _ELLIPSE[3])
    rim = (prob >= threshold).astype(np.uint8)
    low = np.asarray(seeds, np.uint8)
    for _ in range(grow_steps):
        low = np.asarray(cv2.dilate(low, _ELLIPSE[3]), np.uint8) & rim
    low = np.asarray(cv2.morphologyEx(low, cv2.MORPH_CLOSE, _ELLIPSE[5]), np.uint8)
    low = _fill_small_holes(low, max(4 * min_area_px, 64))
    n, lab = cv2.connectedComponents(low, connectivity=8)
    mask = np.zeros(prob.shape, np.uint8)
    score = np.zeros(prob.shape, np.float32)
    if n <= 1:
        return mask, score
    flat = lab.ravel()
    cnt = np.bincount(flat, minlength=n).astype(np.float64)
    psum = np.bincount(flat, weights=prob.ravel().astype(np.float64), minlength=n)
    mean = psum / np.maximum(cnt, 1)
    keep = (cnt >= min_area_px) & (mean >= blob_score)
    keep[0] = False
    if not keep.any():
        return mask, score
    # direction: building-likeness gained (appeared) or lost (disappeared), averaged over the blob
    bsum = np.bincount(flat, weights=direction.ravel().astype(np.float64), minlength=n)
    kind = np.where(bsum >= 0, APPEARED, DISAPPEARED).astype(np.uint8)
    kind[~keep] = 0
    mask = kind[lab]
    score = np.where(keep, mean, 0.0).astype(np.float32)[lab]
    return mask, score
