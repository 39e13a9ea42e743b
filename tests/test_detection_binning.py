"""The lookup-table binning gives exactly scikit-learn's bins."""

from __future__ import annotations

import numpy as np
from sklearn.ensemble._hist_gradient_boosting.binning import _BinMapper

from detection.binning import Binner, FeatureBins


def _awkward_values(thresholds: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Per feature: random values, the thresholds themselves and their float32 neighbours."""
    cols = []
    n = max(t.size for t in thresholds) * 4 + 500
    for t in thresholds:
        t32 = t.astype(np.float32)
        near = np.concatenate([t32, np.nextafter(t32, np.float32(-np.inf)), np.nextafter(t32, np.float32(np.inf))])
        lo, hi = (float(t.min()), float(t.max())) if t.size else (-1.0, 1.0)
        span = hi - lo + 1.0
        rand = rng.uniform(lo - span, hi + span, n - near.size).astype(np.float32)
        cols.append(rng.permutation(np.concatenate([near, rand])))
    return np.stack(cols, axis=1)


def test_bins_equal_the_bin_mappers_on_skewed_features_thresholds_and_nan() -> None:
    rng = np.random.default_rng(3)
    n = 20_000
    train = np.stack([
        rng.normal(0, 1, n),
        rng.lognormal(0, 2, n),  # heavy tail: thresholds crowd near 0
        np.round(rng.normal(0, 3, n)),  # few distinct values: fewer than 255 bins
        np.where(rng.random(n) < 0.9, 0.0, rng.normal(0, 1, n)),  # a spike at one value
        rng.exponential(1e-4, n),  # a tiny range
    ], axis=1).astype(np.float32)
    train[rng.random(n) < 0.01, 0] = np.nan  # missing values get their own bin
    mapper = _BinMapper(n_bins=256, random_state=0).fit(train)
    binner = Binner(list(mapper.bin_thresholds_), int(mapper.missing_values_bin_idx_))
    x = _awkward_values(list(mapper.bin_thresholds_), rng)
    x[rng.random(x.shape[0]) < 0.02, 0] = np.nan
    x[:3, 1] = [np.inf, -np.inf, 0.0]
    expected = mapper.transform(x)
    got = binner.transform(x)
    assert got.dtype == np.uint8
    assert np.array_equal(got, expected)
    assert len(np.unique(expected[:, 0])) > 200  # the whole range of bins was exercised


def test_a_crowded_cell_is_refined_until_a_few_steps_reach_the_bin() -> None:
    # 200 thresholds within a millionth of the range, the rest spread out
    thr = np.unique(np.concatenate([np.linspace(0, 1e-6, 200), np.linspace(1, 100, 50)]))
    fb = FeatureBins.build(thr)
    assert fb.steps <= 3 or fb.base.size >= 1 << 17
    x = np.concatenate([thr, (thr[:-1] + thr[1:]) / 2, [-5.0, 500.0]])
    assert np.array_equal(fb(x), np.searchsorted(thr, x, side="left"))
