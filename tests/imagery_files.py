"""Makers of real GeoTIFFs (good and bad) for the imagery tests, written with rasterio."""

from __future__ import annotations

import struct
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from pyproj import Transformer
from rasterio.control import GroundControlPoint
from rasterio.transform import from_origin
from shapely.geometry import box

CST = timezone(timedelta(hours=8))
CAPTURED = datetime(2025, 3, 14, 10, 20, tzinfo=CST)
#: Centre of the tests' pretend district (Putuo, Shanghai).
LON, LAT = 121.40, 31.24
#: A 0.2° box around it: the district for the footprint rule.
DISTRICT = box(LON - 0.1, LAT - 0.1, LON + 0.1, LAT + 0.1)


def texture(count: int, height: int, width: int, dtype: str = "uint8", seed: int = 1) -> np.ndarray:
    """Imagery-like pixels: smooth gradients plus noise, never constant."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    top = 255 if dtype == "uint8" else 4095
    bands = []
    for b in range(count):
        base = (xx * (b + 1) + yy * 2) % 200 + rng.integers(0, 50, size=(height, width))
        bands.append(base * top / 255)
    return np.stack(bands).astype(dtype)


def write_geotiff(path: Path, width: int = 256, height: int = 256, count: int = 3, dtype: str = "uint8",
                  crs: str | None = "EPSG:4549", res: float = 0.2, lon: float = LON, lat: float = LAT,
                  nodata: float | None = None, data: np.ndarray | None = None, seed: int = 1,
                  **profile: Any) -> Path:
    """A GeoTIFF whose top-left corner is at (lon, lat), in ``crs`` with pixels of ``res`` CRS units."""
    transform = None
    if crs is not None:
        x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
        transform = from_origin(x, y, res, res)
    else:
        transform = from_origin(633000.0, 3460000.0, res, res)
    kw: dict[str, Any] = {"driver": "GTiff", "width": width, "height": height, "count": count, "dtype": dtype,
                          "crs": crs, "transform": transform, "tiled": True, "blockxsize": 128,
                          "blockysize": 128, "compress": "deflate"}
    if width < 16 or height < 16:
        kw.update(tiled=False)
        kw.pop("blockxsize")
        kw.pop("blockysize")
    if nodata is not None:
        kw["nodata"] = nodata
    kw.update(profile)
    arr = data if data is not None else texture(count, height, width, dtype, seed)
    with rasterio.open(path, "w", **kw) as dst:
        dst.write(arr)
    return path


def write_gcps_only(path: Path) -> Path:
    """A TIFF georeferenced by ground control points only (no geotransform)."""
    gcps = [GroundControlPoint(row=0, col=0, x=121.40, y=31.24), GroundControlPoint(row=0, col=255, x=121.41, y=31.24),
            GroundControlPoint(row=255, col=0, x=121.40, y=31.23)]
    with rasterio.open(path, "w", driver="GTiff", width=256, height=256, count=3, dtype="uint8",
                       gcps=gcps, crs="EPSG:4326") as dst:
        dst.write(texture(3, 256, 256))
    return path


def huge_header_tiff(path: Path, width: int = 1_000_000, height: int = 1_000_000) -> Path:
    """A classic little-endian TIFF whose header claims ``width`` × ``height`` px, 3 × 8-bit, one strip.

    The file is a few hundred bytes: only a reader that trusts the header would allocate.
    """
    entries = [
        (256, 4, 1, width),            # ImageWidth LONG
        (257, 4, 1, height),           # ImageLength LONG
        (258, 3, 1, 8),                # BitsPerSample
        (259, 3, 1, 1),                # Compression none
        (262, 3, 1, 2),                # Photometric RGB
        (273, 4, 1, 200),              # StripOffsets
        (277, 3, 1, 3),                # SamplesPerPixel
        (278, 4, 1, height),           # RowsPerStrip
        (279, 4, 1, 0xFFFFFFFF),       # StripByteCounts
        (284, 3, 1, 1),                # PlanarConfig contiguous
    ]
    ifd = struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        packed = struct.pack("<HHI", tag, typ, count)
        packed += struct.pack("<HH", value, 0) if typ == 3 else struct.pack("<I", value)
        ifd += packed
    ifd += struct.pack("<I", 0)
    body = b"II*\x00" + struct.pack("<I", 8) + ifd
    path.write_bytes(body + b"\x00" * (256 - len(body)))
    return path


def png_renamed(path: Path) -> Path:
    """A real PNG saved under a .tif name."""
    from PIL import Image

    Image.fromarray(texture(3, 64, 64).transpose(1, 2, 0)).save(path, format="PNG")
    return path


def zip_renamed(path: Path, inner: Path) -> Path:
    """A ZIP (holding a real GeoTIFF) saved under a .tif name."""
    with zipfile.ZipFile(path, "w") as z:
        z.write(inner, "inner.tif")
    return path


def truncate(src: Path, dst: Path, fraction: float = 0.5) -> Path:
    """The first ``fraction`` of a file's bytes."""
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def corrupt_block(src: Path, dst: Path) -> Path:
    """A copy of a tiled deflate GeoTIFF whose middle tile's bytes are overwritten with junk."""
    with rasterio.open(src) as ds:
        blocks = list(ds.block_windows(1))
        bi, bj = blocks[len(blocks) // 2][0]
        offset = int(ds.get_tag_item(f"BLOCK_OFFSET_{bj}_{bi}", "TIFF", bidx=1))
        size = int(ds.get_tag_item(f"BLOCK_SIZE_{bj}_{bi}", "TIFF", bidx=1))
    data = bytearray(src.read_bytes())
    junk = np.random.default_rng(7).integers(0, 256, size=size, dtype=np.uint8).tobytes()
    data[offset:offset + size] = junk
    data[offset] = 0xFF  # an invalid zlib header
    dst.write_bytes(bytes(data))
    return dst
