"""A change mask written as a single-band 0/255 PNG from its changed patches (streamed in strips).

The patches of a detection run are small and arrive window by window in any order; they are kept
as packed bits, and the PNG is encoded row strip by row strip at the end: memory grows with the
changed area only, never with the raster. Strips without a change reuse one compressed zero strip,
so an almost unchanged raster costs almost nothing to write.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from detection.errors import TileWriteError

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Rows per strip (at most about 4 MB of raw rows).
_STRIP_BYTES = 4_000_000
#: Deflate level: the masks are mostly zeros, where level 1 is nearly as small and much faster.
_LEVEL = 1


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


@dataclass
class BinaryMaskPng:
    """Collect changed patches of a ``width`` x ``height`` mask and write it as a 0/255 PNG.

    Attributes:
        width: mask width.
        height: mask height.
        changed: number of non-zero pixels added so far (overlapping patches count twice; the
            patches of a detection run never overlap).
    """

    width: int
    height: int
    changed: int = 0
    _patches: list[tuple[int, int, int, int, np.ndarray]] = field(default_factory=list, repr=False)

    def add(self, row: int, col: int, block: np.ndarray) -> None:
        """Add a patch: its non-zero pixels are changed (where patches overlap, changes add up).

        Args:
            row: row offset of the patch.
            col: column offset.
            block: ``(h, w)`` array, non-zero = changed.
        """
        sel = np.asarray(block) > 0
        r0, c0 = max(0, row), max(0, col)
        r1, c1 = min(self.height, row + sel.shape[0]), min(self.width, col + sel.shape[1])
        if r1 <= r0 or c1 <= c0:
            return
        sel = sel[r0 - row : r1 - row, c0 - col : c1 - col]
        n = int(np.count_nonzero(sel))
        if n == 0:
            return
        self.changed += n
        self._patches.append((r0, c0, r1 - r0, c1 - c0, np.packbits(sel, axis=1)))

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the PNG atomically (temporary name in the same folder, then rename).

        Raises:
            TileWriteError: the file cannot be written.
        """
        p = Path(path)
        tmp = p.with_name(f".{p.name}.part")
        try:
            with open(tmp, "wb") as fh:
                self._encode(fh)
            os.replace(tmp, p)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise TileWriteError(f"{p}: 无法写入 / cannot write PNG ({exc.strerror or exc})") from exc

    def _encode(self, fh: object) -> None:
        write = fh.write  # type: ignore[attr-defined]
        w, h = self.width, self.height
        write(_SIGNATURE)
        write(_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)))
        rows = max(1, min(h, _STRIP_BYTES // (w + 1)))
        patches = sorted(self._patches, key=lambda q: q[0])
        # raw deflate with the zlib header and Adler-32 written here, so that one compressed
        # zero strip (ending at a full flush) can be spliced in wherever a strip has no change
        comp = zlib.compressobj(_LEVEL, zlib.DEFLATED, -15)
        zero = zlib.compressobj(_LEVEL, zlib.DEFLATED, -15)
        zero_strip = zero.compress(bytes(rows * (w + 1))) + zero.flush(zlib.Z_FULL_FLUSH)
        out: list[bytes] = [b"\x78\x01"]
        adler = 1
        buf = np.zeros((rows, w + 1), np.uint8)  # column 0: the row's filter byte (0 = none)
        k = 0
        active: list[tuple[int, int, int, int, np.ndarray]] = []
        for y0 in range(0, h, rows):
            y1 = min(h, y0 + rows)
            while k < len(patches) and patches[k][0] < y1:
                active.append(patches[k])
                k += 1
            active = [q for q in active if q[0] + q[2] > y0]
            n = y1 - y0
            if not active and n == rows:
                out.append(comp.flush(zlib.Z_FULL_FLUSH))
                out.append(zero_strip)
                a, b = adler & 0xFFFF, adler >> 16
                adler = (((b + n * (w + 1) * a) % 65521) << 16) | a
            else:
                strip = buf[:n]
                strip[:] = 0
                for r, c, ph, pw, bits in active:
                    s0, s1 = max(r, y0), min(r + ph, y1)
                    dense = np.unpackbits(bits[s0 - r : s1 - r], axis=1, count=pw) * np.uint8(255)
                    dst = strip[s0 - y0 : s1 - y0, 1 + c : 1 + c + pw]
                    np.maximum(dst, dense, out=dst)
                data = strip.tobytes() if not strip.flags.c_contiguous else strip.data.cast("B")
                adler = zlib.adler32(data, adler)
                out.append(comp.compress(data))
            if sum(len(x) for x in out) > 1 << 20:
                write(_chunk(b"IDAT", b"".join(out)))
                out = []
        out.append(comp.flush(zlib.Z_FINISH))
        out.append(struct.pack(">I", adler & 0xFFFFFFFF))
        write(_chunk(b"IDAT", b"".join(out)))
        write(_chunk(b"IEND", b""))
