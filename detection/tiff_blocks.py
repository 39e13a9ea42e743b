"""Windows of uncompressed 8-bit GeoTIFFs read straight from their blocks.

An uncompressed, pixel-interleaved GeoTIFF stores each block (tile or strip) as one contiguous
``(rows, cols, bands)`` array at a known offset, so a window is one ``preadv`` of the rows it
needs from each block it meets and a slice copy. GDAL's own read (even through
``GTIFF_VIRTUAL_MEM_IO``) takes about twice as long for the same bytes, and reading was a fifth
of a detection window's time. Plain reads, not a memory map: the pages of a mapping count
towards the process's resident memory (and a Dask worker's memory limit) while it is mapped,
and mapping the file afresh for each read was slower than reading it.

The block offsets come from GDAL (``BLOCK_OFFSET_x_y`` of the ``TIFF`` metadata domain) and are
kept per file, keyed by its identity and modification time, for the life of the process.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import rasterio
from rasterio.enums import Interleaving, PhotometricInterp

#: Files whose layout stays cached in a process.
CACHED_FILES = 4

_CACHE: OrderedDict[tuple[str, int, int, int], BlockLayout | None] = OrderedDict()
_LOCK = threading.Lock()


@dataclass(frozen=True)
class BlockLayout:
    """Where the pixels of an uncompressed 8-bit pixel-interleaved GeoTIFF lie in the file."""

    height: int
    width: int
    bands: int
    block_h: int
    block_w: int
    offsets: np.ndarray  # (block rows, block cols) int64 byte offsets
    path: str


def layout(ds: rasterio.io.DatasetReader) -> BlockLayout | None:
    """The block layout of an open raster, or None when its pixels are not stored plainly.

    Plainly means: a GeoTIFF on the local file system, uncompressed, pixel-interleaved, 8-bit
    samples (no ``NBITS``) in three or more bands, RGB or grey photometry, every block present and
    of its full size.
    """
    path = ds.name
    try:
        st = os.stat(path)
    except OSError:
        return None
    key = (os.path.realpath(path), st.st_ino, st.st_size, st.st_mtime_ns)
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    found = _layout(ds, path, st.st_size)
    with _LOCK:
        _CACHE[key] = found
        while len(_CACHE) > CACHED_FILES:
            _CACHE.popitem(last=False)
    return found


def _layout(ds: rasterio.io.DatasetReader, path: str, size: int) -> BlockLayout | None:
    plain = (
        ds.driver == "GTiff" and ds.compression is None and ds.interleaving == Interleaving.pixel
        and ds.count >= 3 and all(dt == "uint8" for dt in ds.dtypes) and len(set(ds.block_shapes)) == 1
        and ds.photometric in (None, PhotometricInterp.rgb, PhotometricInterp.black)
        and ds.tags(1, ns="IMAGE_STRUCTURE").get("NBITS", "8") == "8"
    )
    if not plain:
        return None
    bh, bw = ds.block_shapes[0]
    nby, nbx = -(-ds.height // bh), -(-ds.width // bw)
    strips = bw == ds.width
    offsets = np.zeros((nby, nbx), np.int64)
    for by in range(nby):
        rows = min(bh, ds.height - by * bh) if strips else bh
        want = rows * bw * ds.count
        for bx in range(nbx):
            off = ds.get_tag_item(f"BLOCK_OFFSET_{bx}_{by}", "TIFF", bidx=1)
            nbytes = ds.get_tag_item(f"BLOCK_SIZE_{bx}_{by}", "TIFF", bidx=1)
            if not off or not nbytes or int(off) <= 0 or int(nbytes) < want or int(off) + want > size:
                return None  # sparse or short block: GDAL fills it in
            offsets[by, bx] = int(off)
    return BlockLayout(ds.height, ds.width, ds.count, bh, bw, offsets, path)


def read_into(lay: BlockLayout, row: int, col: int, out: np.ndarray) -> None:
    """Copy bands 1-3 of the window at ``(row, col)`` of the size of ``out`` (``(h, w, 3)`` uint8,
    inside the raster) from the blocks."""
    h, w = out.shape[:2]
    if row < 0 or col < 0 or row + h > lay.height or col + w > lay.width:
        raise ValueError(f"window ({row}, {col}, {h}, {w}) extends beyond the raster")
    bh, bw, nb = lay.block_h, lay.block_w, lay.bands
    row_bytes = bw * nb  # a block row; tiles at the right and bottom edges are padded
    buf = bytearray(bh * row_bytes)
    view, bounce = memoryview(buf), np.frombuffer(buf, np.uint8)
    fd = os.open(lay.path, os.O_RDONLY)
    try:
        for by in range(row // bh, (row + h - 1) // bh + 1):
            y0, y1 = max(row, by * bh), min(row + h, (by + 1) * bh)
            n = (y1 - y0) * row_bytes
            for bx in range(col // bw, (col + w - 1) // bw + 1):
                x0, x1 = max(col, bx * bw), min(col + w, (bx + 1) * bw)
                if os.preadv(fd, [view[:n]], int(lay.offsets[by, bx]) + (y0 - by * bh) * row_bytes) != n:
                    raise ValueError(f"{lay.path}: block ({bx}, {by}) is cut short")
                rows = bounce[:n].reshape(y1 - y0, bw, nb)
                out[y0 - row : y1 - row, x0 - col : x1 - col] = rows[:, x0 - bx * bw : x1 - bx * bw, :3]
    finally:
        os.close(fd)
