"""Area means by an integer factor: the bytes OpenCV's INTER_AREA gives, from a compiled loop."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from detection.area_mean import area_mean


def _image(h: int, w: int, bands: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, bands), dtype=np.uint8)


def _opencv(x: np.ndarray, factor: int, lut: np.ndarray | None = None) -> np.ndarray:
    h, w, c = x.shape
    small = np.asarray(cv2.resize(x, (-(-w // factor), -(-h // factor)), interpolation=cv2.INTER_AREA))
    small = small.reshape(small.shape[0], small.shape[1], c)
    return small if lut is None else np.asarray(cv2.LUT(small, lut)).reshape(small.shape)


@pytest.mark.parametrize("factor", [2, 3, 4, 5, 8])
@pytest.mark.parametrize("bands", [1, 3, 4])
def test_the_same_bytes_as_opencv_ties_included(factor: int, bands: int) -> None:
    # random bytes give every remainder of a cell's sum, half-way ones (ties) among them
    x = _image(factor * 23, factor * 31, bands, seed=factor * 10 + bands)
    got = area_mean(x, factor)
    assert got.shape == (23, 31, bands) and got.dtype == np.uint8
    assert np.array_equal(got, _opencv(x, factor))


def test_a_table_is_applied_to_the_means() -> None:
    x = _image(64, 96)
    lut = np.random.default_rng(5).integers(0, 256, (1, 256, 3), dtype=np.uint8)
    assert np.array_equal(area_mean(x, 4, lut), _opencv(x, 4, lut))
    # a table per band: the bands are not mixed up
    assert not np.array_equal(area_mean(x, 4, lut), area_mean(x, 4, lut[:, :, ::-1]))


def test_a_view_into_a_larger_image_is_read_in_place() -> None:
    src = _image(140, 150, seed=3)
    view = src[6:134, 10:138]  # rows not contiguous with each other, as a window's margin gives
    assert not view.flags.c_contiguous
    assert np.array_equal(area_mean(view, 4), _opencv(np.ascontiguousarray(view), 4))


def test_partial_cells_and_other_layouts_go_through_opencv() -> None:
    x = _image(61, 97, seed=4)  # last row and column of cells partial
    assert area_mean(x, 4).shape == (16, 25, 3)
    assert np.array_equal(area_mean(x, 4), _opencv(x, 4))
    planar = np.moveaxis(_image(3, 64, 64, seed=6), 0, -1)  # bands not interleaved
    assert np.array_equal(area_mean(planar, 4), _opencv(np.ascontiguousarray(planar), 4))
    lut = np.random.default_rng(7).integers(0, 256, (1, 256, 3), dtype=np.uint8)
    assert np.array_equal(area_mean(x, 1, lut), np.asarray(cv2.LUT(x, lut)))
