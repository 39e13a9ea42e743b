"""Area means of 8-bit images by an integer factor, as ``cv2.resize(..., INTER_AREA)`` gives them.

The first stage reduces both images of every window by 4 (see :func:`detection.core.first_stage`).
OpenCV's integer-factor area path takes about 7 ms for a 2176 px window of RGB: it sums each cell
pixel by pixel. One compiled loop that sums four rows at a time (vectorised) and then the cells of
the summed row takes under 2 ms, and gives the same bytes: each cell's exact integer sum, rounded
to the nearest as OpenCV rounds it (ties to even, except at factor 2, where its vectorised path
rounds ties up), and through a histogram table when one is given (see
:func:`detection.align.histogram_lut`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import cv2
import numpy as np

from detection.align import apply_lut
from detection.jit import compile_loop

#: Largest factor whose summed rows fit the uint16 accumulator (255 * factor).
MAX_FACTOR = 16


@lru_cache(maxsize=8)
def _compiled(factor: int, bands: int) -> Callable[..., None]:
    """The compiled loop for one factor and band count (constants to the compiler, so the loops
    over a cell's pixels and bands unroll)."""
    def reduce_rows(x: np.ndarray, table: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
        # the (h, w * bands) byte rows of x into (h // factor, w // factor * bands) out: factor
        # rows summed (vectorised), then factor pixels of the summed row per cell, through table
        acc = np.empty(x.shape[1], np.uint16)
        for oy in range(out.shape[0]):
            y = oy * factor
            row = x[y]
            for j in range(acc.size):
                acc[j] = row[j]
            for dy in range(1, factor):
                row = x[y + dy]
                for j in range(acc.size):
                    acc[j] += row[j]
            o = out[oy]
            for ox in range(out.shape[1] // bands):
                base = ox * factor * bands
                for k in range(bands):
                    s = 0
                    for dx in range(factor):
                        s += acc[base + dx * bands + k]
                    o[ox * bands + k] = table[k, s]

    return compile_loop(reduce_rows)


def _table(factor: int, bands: int, lut: np.ndarray | None) -> np.ndarray:
    """``(bands, 255 * factor**2 + 1)`` uint8: each possible cell sum rounded as OpenCV rounds its
    mean, then through ``lut``."""
    area = factor * factor
    s = np.arange(255 * area + 1)
    q, r2 = s // area, 2 * (s % area)
    q = q + ((r2 > area) | ((r2 == area) & ((factor == 2) | (q % 2 == 1))))
    if lut is None:
        return np.ascontiguousarray(np.broadcast_to(q.astype(np.uint8), (bands, s.size)))
    return np.ascontiguousarray(lut.reshape(256, bands).T[:, q])


def area_mean(x: np.ndarray, factor: int, lut: np.ndarray | None = None) -> np.ndarray:
    """``x`` reduced by ``factor``: the uint8 mean of each ``factor x factor`` cell.

    Args:
        x: ``(h, w, c)`` uint8; any view whose pixels are contiguous within each row.
        factor: integer reduction (1 returns ``x`` through ``lut``).
        lut: ``(1, 256, c)`` uint8 table applied to the means (None: none).

    Returns:
        ``(ceil(h / factor), ceil(w / factor), c)`` uint8, the bytes of
        ``cv2.resize(x, ..., interpolation=cv2.INTER_AREA)`` followed by ``cv2.LUT``. Shapes not
        divisible by ``factor`` (the last cells partial) go through OpenCV itself.
    """
    h, w, c = x.shape
    size = (max(1, -(-w // factor)), max(1, -(-h // factor)))
    plain = (
        1 < factor <= MAX_FACTOR and h % factor == 0 and w % factor == 0 and x.dtype == np.uint8
        and x.strides[2] == 1 and x.strides[1] == c
    )
    if not plain:
        small = x if factor == 1 else np.asarray(cv2.resize(x, size, interpolation=cv2.INTER_AREA), np.uint8)
        return apply_lut(small.reshape(size[1], size[0], c), lut)
    out = np.empty((h // factor, w // factor, c), np.uint8)
    rows = np.lib.stride_tricks.as_strided(x, (h, w * c), (x.strides[0], 1))
    _compiled(factor, c)(rows, _table(factor, c, lut), out.reshape(h // factor, -1))
    return out
