"""Feature rows gathered by the compiled loop: the values numpy's take and normalisation give."""

from __future__ import annotations

import numpy as np

from detection import change
from detection.feature_rows import gather


def test_rows_are_the_planes_at_the_pixels_normalised_per_column() -> None:
    rng = np.random.default_rng(0)
    h, w = 23, 31
    blocks = [rng.normal(0, 5, (k, h, w)).astype(np.float32) for k in (9, 1, 4)]
    blocks[1][0, 3, 4] = np.nan  # a missing value stays missing
    flat = rng.choice(h * w, 200, replace=False)
    flat = np.append(flat, 3 * w + 4)
    mean = rng.normal(0, 1, 14).astype(np.float32)
    std = rng.uniform(0.5, 2, 14).astype(np.float32)
    want = (np.concatenate([b.reshape(b.shape[0], -1) for b in blocks])[:, flat] - mean[:, None]) / std[:, None]
    got = gather(blocks, flat, mean, std)
    assert got.shape == (flat.size, 14) and got.dtype == np.float32
    assert np.array_equal(got, want.T, equal_nan=True)
    assert np.isnan(got[-1, 9])
    # a view (not contiguous) is read as its values
    view = np.asarray(np.moveaxis(rng.normal(0, 1, (h, w, 2)).astype(np.float32), -1, 0))
    assert np.array_equal(gather([view], flat, np.zeros(2, np.float32), np.ones(2, np.float32)),
                          view.reshape(2, -1)[:, flat].T)


def test_region_features_are_the_rows_of_the_whole_stack() -> None:
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (70, 64, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (70, 64, 3), dtype=np.uint8)
    stack = change.pair_features(a, b)
    region = rng.random((70, 64)) < 0.2
    idx, x, _ = change.region_features(a, b, region, change.cue_stats(a, b))
    assert np.array_equal(idx, np.flatnonzero(region))
    assert np.array_equal(x, stack.reshape(-1, stack.shape[-1])[idx], equal_nan=True)
