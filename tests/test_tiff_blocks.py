"""Windows of uncompressed GeoTIFFs copied from their blocks: the same pixels as GDAL reads."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.windows import Window

from detection import rasterio_io, tiff_blocks


def _write(path: Path, pixels: np.ndarray, **profile: Any) -> Path:
    bands, h, w = pixels.shape
    base = {"driver": "GTiff", "width": w, "height": h, "count": bands, "dtype": str(pixels.dtype),
            "crs": "EPSG:32651", "transform": Affine(0.5, 0, 350_000, 0, -0.5, 3_460_000)}
    with rasterio.open(path, "w", **{**base, **profile}) as ds:
        ds.write(pixels)
    return path


def _pixels(bands: int, h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (bands, h, w), dtype=np.uint8)


WINDOWS = [Window(0, 0, 45, 37), Window(3, 5, 17, 9), Window(15, 15, 2, 2), Window(30, 20, 15, 17),
           Window(-4, 30, 12, 12), Window(40, -3, 10, 8)]

PLAIN = {
    "tiled 3 bands": (3, {"tiled": True, "blockxsize": 16, "blockysize": 16}),
    "tiled RGBA": (4, {"tiled": True, "blockxsize": 16, "blockysize": 32}),
    "strips, short last": (3, {"tiled": False, "blockysize": 7}),
}


@pytest.mark.parametrize("kind", list(PLAIN))
def test_blocks_give_the_pixels_gdal_reads(tmp_path: Path, kind: str) -> None:
    bands, profile = PLAIN[kind]
    pixels = _pixels(bands, 37, 45, seed=len(kind))
    path = _write(tmp_path / "plain.tif", pixels, **profile)
    with rasterio_io.opened(path) as ds:
        assert tiff_blocks.layout(ds) is not None
        for win in WINDOWS:
            rgb, valid = rasterio_io.read_rgb8(ds, win, boundless=True)
            ref = ds.read([1, 2, 3], window=win, boundless=True, fill_value=0)
            assert np.array_equal(rgb, np.moveaxis(ref, 0, -1)), win
            seen = ds.read_masks(1, window=win, boundless=True) > 0  # outside, and alpha 0 of RGBA
            assert np.array_equal(valid if valid is not None else np.ones_like(seen), seen)


@pytest.mark.parametrize(("why", "bands", "dtype", "profile"), [
    ("compressed", 3, "uint8", {"compress": "deflate", "tiled": True, "blockxsize": 16, "blockysize": 16}),
    ("band-interleaved", 3, "uint8", {"interleave": "band"}),
    ("16-bit", 3, "uint16", {}),
    ("one band", 1, "uint8", {}),
])
def test_other_layouts_are_left_to_gdal(
    tmp_path: Path, why: str, bands: int, dtype: str, profile: dict[str, Any]
) -> None:
    pixels = _pixels(bands, 37, 45, seed=3).astype(dtype)
    path = _write(tmp_path / "other.tif", pixels, **profile)
    with rasterio_io.opened(path) as ds:
        assert tiff_blocks.layout(ds) is None, why
    if dtype == "uint8" and bands == 3:
        with rasterio_io.opened(path) as ds:
            rgb, _ = rasterio_io.read_rgb8(ds, Window(3, 5, 17, 9))
        assert np.array_equal(rgb, np.moveaxis(pixels[:, 5:14, 3:20], 0, -1))


def test_a_rewritten_file_is_read_afresh(tmp_path: Path) -> None:
    path = tmp_path / "scene.tif"
    first = _pixels(3, 37, 45, seed=1)
    _write(path, first, tiled=True, blockxsize=16, blockysize=16)
    with rasterio_io.opened(path) as ds:
        assert np.array_equal(rasterio_io.read_rgb8(ds, Window(0, 0, 45, 37))[0], np.moveaxis(first, 0, -1))
    second = _pixels(3, 37, 45, seed=2)
    _write(path, second, tiled=False, blockysize=5)  # other blocks at other offsets
    with rasterio_io.opened(path) as ds:
        assert np.array_equal(rasterio_io.read_rgb8(ds, Window(0, 0, 45, 37))[0], np.moveaxis(second, 0, -1))


def test_reads_map_nothing_and_stop_at_the_end_of_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "cut.tif", _pixels(3, 37, 45, seed=4), tiled=True, blockxsize=16, blockysize=16)
    with rasterio.open(path) as ds:
        lay = tiff_blocks.layout(ds)
        assert lay is not None and tiff_blocks.layout(ds) is lay  # kept per file
    out = np.empty((9, 17, 3), np.uint8)
    tiff_blocks.read_into(lay, 5, 3, out)
    # no mapping: its touched pages would count towards a worker's memory limit
    assert str(path) not in Path(f"/proc/{os.getpid()}/maps").read_text()
    with pytest.raises(ValueError, match="beyond the raster"):
        tiff_blocks.read_into(lay, 30, 40, out)
    os.truncate(path, int(lay.offsets[1, 1]) + 100)  # a copy still being written, say
    with pytest.raises(ValueError, match=r"cut\.tif: block \(1, 1\) is cut short"):
        tiff_blocks.read_into(lay, 16, 16, out)
    with rasterio_io.opened(path) as ds, pytest.raises(rasterio_io.TileReadError, match=r"cut\.tif"):
        rasterio_io.read_rgb8(ds, Window(16, 16, 17, 9))
