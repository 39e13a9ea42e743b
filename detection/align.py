"""Alignment: one grid, sub-pixel co-registration and radiometric normalisation."""

from __future__ import annotations

import cv2
import numpy as np
from affine import Affine
from rasterio.crs import CRS
from rasterio.warp import Resampling, reproject

from detection.band_histogram import band_histograms
from detection.errors import GridMismatchError
from detection.types import ImageData

#: Measured shifts below this (pixels) are not applied: resampling would cost more than it fixes.
MIN_SHIFT_PX = 0.25


def reproject_to_grid(src: ImageData, transform: Affine, crs: str | None, shape: tuple[int, int]) -> ImageData:
    """Resample ``src`` onto a target grid.

    Pixels of the target that ``src`` does not cover become invalid (``valid`` False).

    Args:
        src: the image to move.
        transform: target grid transform.
        crs: target CRS (must be set when ``src.crs`` is set).
        shape: target ``(height, width)``.

    Returns:
        A new :class:`ImageData` on the target grid with the same band count.

    Raises:
        GridMismatchError: one side has a CRS and the other not, or the grids do not overlap.
    """
    if (src.crs is None) != (crs is None):
        raise GridMismatchError("cannot put an image with a CRS and one without on one grid")
    h, w = shape
    if src.crs is None:
        if (src.height, src.width) != (h, w) or src.transform != transform:
            raise GridMismatchError(
                f"plain images must have the same size: {src.width}x{src.height} vs {w}x{h}"
            )
        return src
    if src.crs == crs and src.transform == transform and (src.height, src.width) == (h, w):
        return src
    out = np.zeros((src.count, h, w), dtype=src.array.dtype)
    valid_src = src.valid_mask.astype(np.uint8)
    valid = np.zeros((h, w), dtype=np.uint8)
    reproject(
        src.array, out, src_transform=src.transform, src_crs=CRS.from_user_input(src.crs),
        dst_transform=transform, dst_crs=CRS.from_user_input(crs), resampling=Resampling.bilinear,
    )
    reproject(
        valid_src, valid, src_transform=src.transform, src_crs=CRS.from_user_input(src.crs),
        dst_transform=transform, dst_crs=CRS.from_user_input(crs), resampling=Resampling.nearest,
        src_nodata=255, dst_nodata=0,
    )
    if not valid.any():
        raise GridMismatchError("the two images do not overlap")
    return ImageData(out, transform, crs, valid.astype(bool))


def estimate_shift(ref: np.ndarray, mov: np.ndarray, valid: np.ndarray | None = None) -> tuple[float, float, float]:
    """Sub-pixel translation of ``mov`` relative to ``ref`` by phase correlation.

    Args:
        ref: 2-D grey image.
        mov: 2-D grey image of the same shape.
        valid: optional mask of usable pixels (others are set to the mean).

    Returns:
        ``(dx, dy, response)``: shift in pixels such that ``mov(x + dx, y + dy) ~ ref(x, y)``
        and the correlation peak strength (0..1; low means unreliable).
    """
    r = ref.astype(np.float32)
    m = mov.astype(np.float32)
    if valid is not None and not valid.all():
        r = np.where(valid, r, r[valid].mean() if valid.any() else 0.0).astype(np.float32)
        m = np.where(valid, m, m[valid].mean() if valid.any() else 0.0).astype(np.float32)
    # gradient images are robust to illumination differences between dates
    r = np.asarray(cv2.Laplacian(cv2.GaussianBlur(r, (3, 3), 0), cv2.CV_32F), np.float32)
    m = np.asarray(cv2.Laplacian(cv2.GaussianBlur(m, (3, 3), 0), cv2.CV_32F), np.float32)
    win = cv2.createHanningWindow(r.shape[::-1], cv2.CV_32F)
    fr = _spectrum(r, win)
    dx, dy, resp = _phase_peak(fr, m, win)
    # one refinement on the resampled residual reduces the interpolation bias further
    if np.hypot(dx, dy) < min(r.shape) / 4:
        ex, ey, _ = _phase_peak(fr, apply_shift(m, dx, dy), win)
        if np.hypot(ex, ey) < 1.0:
            dx, dy = dx + ex, dy + ey
    return float(dx), float(dy), float(resp)


def _spectrum(x: np.ndarray, win: np.ndarray) -> np.ndarray:
    """The complex spectrum of a windowed, zero-mean grey image (OpenCV's DFT: several times faster
    than numpy's on these float32 crops)."""
    return np.asarray(cv2.dft(np.ascontiguousarray((x - x.mean()) * win, np.float32), flags=cv2.DFT_COMPLEX_OUTPUT))


def _phase_peak(fr: np.ndarray, m: np.ndarray, win: np.ndarray) -> tuple[float, float, float]:
    """Phase correlation of ``m`` with the reference spectrum ``fr`` (see :func:`_spectrum`), with
    the sinc-peak sub-pixel estimate of Foroosh et al. (2002)."""
    fm = _spectrum(m, win)
    x = np.asarray(cv2.mulSpectrums(fm, fr, 0, conjB=True), np.float32)
    x /= np.asarray(cv2.magnitude(x[:, :, 0], x[:, :, 1]), np.float32)[:, :, None] + np.float32(1e-9)
    c = np.asarray(cv2.idft(x, flags=cv2.DFT_REAL_OUTPUT | cv2.DFT_SCALE), np.float64)
    h, w = c.shape
    iy, ix = np.unravel_index(int(np.argmax(c)), c.shape)
    c0 = float(c[iy, ix])

    def sub(cm: float, cp: float) -> float:
        if cp >= cm:
            return cp / (cp + c0) if cp > 0 else 0.0
        return -cm / (cm + c0) if cm > 0 else 0.0

    dx = ix + sub(float(c[iy, (ix - 1) % w]), float(c[iy, (ix + 1) % w]))
    dy = iy + sub(float(c[(iy - 1) % h, ix]), float(c[(iy + 1) % h, ix]))
    if dx > w / 2:
        dx -= w
    if dy > h / 2:
        dy -= h
    return float(dx), float(dy), c0


def apply_shift(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Resample ``image`` (``(h, w)`` or ``(h, w, c)``) so that it moves by ``(-dx, -dy)``.

    After this, ``apply_shift(mov, *estimate_shift(ref, mov)[:2])`` lines up with ``ref``.
    """
    h, w = image.shape[:2]
    m = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    return np.asarray(cv2.warpAffine(image, m, (w, h), flags=flags, borderMode=cv2.BORDER_REPLICATE))


def _grey(x: np.ndarray) -> np.ndarray:
    if x.ndim == 2:
        return x.astype(np.float32)
    if x.dtype == np.uint8 and x.shape[2] == 3:
        return cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return x.astype(np.float32).mean(axis=2)


def measure_shift(
    a: np.ndarray,
    b: np.ndarray,
    valid: np.ndarray | None = None,
    max_shift: float = 8.0,
    min_response: float = 0.05,
    crop: int = 768,
) -> tuple[float, float] | None:
    """Translation of ``b`` relative to ``a`` from a centred crop, or None when unreliable.

    Args:
        a: before ``(h, w, 3)`` or ``(h, w)`` image.
        b: after image, same shape.
        valid: usable pixels.
        max_shift: larger shifts are treated as failures.
        min_response: weaker correlation peaks are treated as failures.
        crop: side of the centred crop used for the estimate.

    Returns:
        ``(dx, dy)`` such that ``b(x + dx, y + dy) ~ a(x, y)``, or None (too small an image, weak
        peak or implausible shift).
    """
    if min(a.shape[:2]) < 32:
        return None
    # a centred crop is enough for a translation and keeps the FFT cheap on big windows
    h, w = a.shape[:2]
    ch, cw = min(h, crop), min(w, crop)
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    sl = (slice(y0, y0 + ch), slice(x0, x0 + cw))
    dx, dy, resp = estimate_shift(_grey(a[sl]), _grey(b[sl]), None if valid is None else valid[sl])
    if resp < min_response or np.hypot(dx, dy) > max_shift:
        return None
    return dx, dy


def coregister(
    a: np.ndarray,
    b: np.ndarray,
    valid: np.ndarray | None = None,
    max_shift: float = 8.0,
    min_response: float = 0.05,
    crop: int = 768,
) -> tuple[np.ndarray, tuple[float, float]]:
    """Shift ``b`` onto ``a`` when phase correlation finds a plausible translation.

    Args:
        a: before ``(h, w, 3)`` image.
        b: after image, same shape.
        valid: usable pixels.
        max_shift: larger shifts are treated as failures and ignored.
        min_response: weaker correlation peaks are ignored.
        crop: side of the centred crop used for the estimate.

    Returns:
        ``(b_aligned, (dx, dy))`` with ``(0, 0)`` when no shift was applied.
    """
    s = measure_shift(a, b, valid, max_shift, min_response, crop)
    if s is None or np.hypot(*s) < MIN_SHIFT_PX:
        return b, (0.0, 0.0)
    return apply_shift(b, *s), s


def histogram_lut(src: np.ndarray, ref: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray | None:
    """Per-band lookup table that maps the histogram of ``src`` onto that of ``ref``.

    Histograms of big images come from a regular subsample of at least about 250,000 pixels
    (the same shape as the full histogram at a fraction of the cost).

    Args:
        src: ``(h, w, c)`` uint8 image to adjust (the later image).
        ref: ``(h, w, c)`` uint8 reference (the earlier image).
        valid: pixels used to build the histograms.

    Returns:
        ``(1, 256, c)`` uint8 table for ``cv2.LUT`` (identity for bands without valid pixels), or
        None when no band has valid pixels.
    """
    sel = None if valid is None or valid.all() else valid
    n = src.shape[0] * src.shape[1]
    step = 1 if n <= 1_000_000 else max(2, int((n / 250_000) ** 0.5))
    hist_s, hist_r = band_histograms(src, step, sel), band_histograms(ref, step, sel)
    c = src.shape[2]
    lut = np.empty((1, 256, c), np.uint8)
    used = False
    for k in range(c):
        hs, hr = hist_s[k], hist_r[k]
        if hs.sum() == 0 or hr.sum() == 0:
            lut[0, :, k] = np.arange(256)
            continue
        used = True
        cs = np.cumsum(hs) / hs.sum()
        cr = np.cumsum(hr) / hr.sum()
        lut[0, :, k] = np.interp(cs, cr, np.arange(256)).round().clip(0, 255).astype(np.uint8)
    return lut if used else None


def match_histograms(src: np.ndarray, ref: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Radiometric normalisation: map each band of ``src`` so its histogram matches ``ref``.

    Args:
        src: ``(h, w, c)`` uint8 image to adjust (the later image).
        ref: ``(h, w, c)`` uint8 reference (the earlier image).
        valid: pixels used to build the histograms.

    Returns:
        ``(h, w, c)`` uint8 adjusted image (a new array).
    """
    lut = histogram_lut(src, ref, valid)
    return src.copy() if lut is None else apply_lut(src, lut)


def apply_lut(x: np.ndarray, lut: np.ndarray | None) -> np.ndarray:
    """``x`` (``(h, w, c)`` uint8, any part or reduced copy of an image) through the per-band table
    ``lut`` of :func:`histogram_lut`; ``x`` itself when ``lut`` is None."""
    if lut is None:
        return x
    if x.shape[2] in (1, 3, 4):
        return np.asarray(cv2.LUT(x, lut), np.uint8).reshape(x.shape)
    out = np.empty_like(x)
    for k in range(x.shape[2]):
        out[:, :, k] = cv2.LUT(np.ascontiguousarray(x[:, :, k]), lut[:, :, k].copy())
    return out


def to_rgb8(array: np.ndarray) -> np.ndarray:
    """``(bands, h, w)`` any dtype -> ``(h, w, 3)`` uint8 RGB (first three bands; grey repeated).

    Non-uint8 data is stretched between its 0.5 and 99.5 percentiles.
    """
    x = array[:3] if array.shape[0] >= 3 else np.repeat(array[:1], 3, axis=0)
    if x.dtype != np.uint8:
        xf = x.astype(np.float32)
        lo, hi = np.percentile(xf[:, ::7, ::7], [0.5, 99.5])
        x = np.clip((xf - lo) * (255.0 / max(hi - lo, 1e-6)), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(np.moveaxis(x, 0, -1))
