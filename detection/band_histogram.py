"""Band histograms of a regular subsample of an 8-bit image, counted in place by one compiled loop.

Radiometric matching (:func:`detection.align.histogram_lut`) takes its histograms from every
``step``-th pixel of every ``step``-th row of a window. Copying that subsample out (to hand OpenCV
contiguous pixels) took most of the 4 ms the two histograms of a 2176 px window cost; counting it
where it lies takes well under half of that, with the same counts.
"""

from __future__ import annotations

import numpy as np

from detection.jit import compiled


@compiled
def _count(x: np.ndarray, step: int, mask: np.ndarray, use_mask: bool, out: np.ndarray) -> None:  # pragma: no cover
    """Add the bands of every ``step``-th pixel of every ``step``-th row of ``(h, w, c)`` ``x``
    (where ``mask`` is set, when ``use_mask``) to ``(c, 256)`` ``out``."""
    h, w, c = x.shape
    for y in range(0, h, step):
        for xx in range(0, w, step):
            if use_mask and not mask[y, xx]:
                continue
            for k in range(c):
                out[k, x[y, xx, k]] += 1



def band_histograms(x: np.ndarray, step: int = 1, mask: np.ndarray | None = None) -> np.ndarray:
    """Counts of each value in each band of ``x[::step, ::step]``.

    Args:
        x: ``(h, w, c)`` uint8 (any view).
        step: subsampling step in rows and columns.
        mask: bool ``(h, w)``; only its pixels count (None: all).

    Returns:
        ``(c, 256)`` float32 counts, as ``cv2.calcHist`` gives them.
    """
    counts = np.zeros((x.shape[2], 256), np.int64)
    _count(x, step, np.zeros((1, 1), bool) if mask is None else mask, mask is not None, counts)
    return counts.astype(np.float32)
