"""Band histograms of a subsample counted in place: OpenCV's counts of the copied subsample."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from detection.band_histogram import band_histograms


@pytest.mark.parametrize("step", [1, 3, 4])
@pytest.mark.parametrize("masked", [False, True])
def test_counts_are_calchists_of_the_subsample(step: int, masked: bool) -> None:
    rng = np.random.default_rng(step)
    src = rng.integers(0, 256, (130, 141, 3), dtype=np.uint8)
    view = src[5:125, 7:137]  # a window's view into a larger read
    mask = rng.random(view.shape[:2]) < 0.6 if masked else None
    sub = np.ascontiguousarray(view[::step, ::step])
    m8 = None if mask is None else np.ascontiguousarray(mask[::step, ::step]).astype(np.uint8)
    want = np.stack([cv2.calcHist([sub], [k], m8, [256], [0, 256]).ravel() for k in range(3)])
    got = band_histograms(view, step, mask)
    assert got.dtype == np.float32 and np.array_equal(got, want)
    assert got.sum() == (sub.shape[0] * sub.shape[1] if m8 is None else int(m8.sum())) * 3
