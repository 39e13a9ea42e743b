"""Bin indices of a gradient-boosted tree model's features, by lookup table.

scikit-learn's ``HistGradientBoostingClassifier`` grows its trees on uint8 bins: the bin of a
value ``x`` of feature ``j`` is the number of that feature's thresholds below ``x`` (a binary
search, ``np.searchsorted(thresholds, x, side="left")``), and missing values get a bin of their
own. A binary search over 255 thresholds mispredicts most of its branches; here each feature's
threshold range is cut into equal cells, a table gives the bin at each cell's start, and a few
branch-free steps move to the exact bin. The result is the same bin, several times faster.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Fewest cells per feature; doubled until no cell holds more than ``MAX_STEPS - 1`` thresholds.
MIN_CELLS = 1024
#: Most cells per feature.
MAX_CELLS = 1 << 17
#: Steps after the table look-up that are cheap enough to stop refining the cells.
MAX_STEPS = 3


@dataclass(frozen=True)
class FeatureBins:
    """The look-up table of one feature.

    Attributes:
        thresholds: the bin thresholds, ascending (float64).
        padded: ``thresholds`` with ``+inf`` appended (so a step past the last one is harmless).
        lo: the first threshold (start of the first cell).
        scale: cells per unit of the feature.
        base: ``(cells,)`` number of thresholds below the start of each cell.
        steps: how many upward steps reach the exact bin from any cell's ``base``.
    """

    thresholds: np.ndarray
    padded: np.ndarray
    lo: float
    scale: float
    base: np.ndarray
    steps: int

    @classmethod
    def build(cls, thresholds: np.ndarray) -> FeatureBins:
        """The table for ``thresholds`` (ascending, distinct)."""
        thr = np.asarray(thresholds, np.float64)
        padded = np.append(thr, np.inf)
        if thr.size == 0:
            return cls(thr, padded, 0.0, 0.0, np.zeros(1, np.int64), 0)
        lo, hi = float(thr[0]), float(thr[-1])
        cells = MIN_CELLS
        while True:
            scale = cells / (hi - lo) if hi > lo else 0.0
            starts = lo + np.arange(cells, dtype=np.float64) / scale if scale else np.full(1, lo)
            base = np.searchsorted(thr, starts, side="left")
            # thresholds inside one cell (the last one also holds those at its end)
            steps = int(np.max(np.diff(np.append(base, thr.size)))) + 1
            if steps <= MAX_STEPS or cells >= MAX_CELLS or not scale:
                return cls(thr, padded, lo, scale, base.astype(np.int64), steps)
            cells *= 2

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Bins of the finite values ``x`` (1-D): ``searchsorted(thresholds, x, "left")`` as int64."""
        x64 = np.asarray(x, np.float64)
        cell = (x64 - self.lo) * self.scale
        np.clip(cell, 0, self.base.size - 1, out=cell)
        b = self.base[cell.astype(np.int64)]
        # rounding of the cell index may land one cell late: step back over a threshold >= x
        back = self.padded[np.maximum(b - 1, 0)] >= x64
        b -= back & (b > 0)
        for _ in range(self.steps):
            b += self.padded[b] < x64
        return b


class Binner:
    """Exact bins of all features of a fitted ``HistGradientBoostingClassifier``'s bin mapper."""

    def __init__(self, bin_thresholds: list[np.ndarray], missing_bin: int) -> None:
        """Build the tables.

        Args:
            bin_thresholds: per feature, the mapper's ``bin_thresholds_``.
            missing_bin: the mapper's ``missing_values_bin_idx_`` (bin of NaN).
        """
        self.features = [FeatureBins.build(t) for t in bin_thresholds]
        self.missing_bin = missing_bin

    def column(self, j: int, x: np.ndarray) -> np.ndarray:
        """uint8 bins of values ``x`` (1-D) of feature ``j``; NaN goes to the missing bin."""
        nan = np.isnan(x)
        if nan.any():
            out = np.full(x.shape, self.missing_bin, np.uint8)
            out[~nan] = self.features[j](x[~nan])
            return out
        return self.features[j](x).astype(np.uint8)

    def transform(self, x: np.ndarray) -> np.ndarray:
        """uint8 ``(n, F)`` bins (Fortran order) of features ``x`` ``(n, F)``."""
        out = np.empty(x.shape, np.uint8, order="F")
        for j in range(x.shape[1]):
            out[:, j] = self.column(j, x[:, j])
        return out
