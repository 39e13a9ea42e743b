"""A change mask written as a single-band 0/255 PNG from its changed patches (streamed in strips).

The patches of a detection run are small and arrive window by window in any order; they are kept
as packed bits, and the PNG is encoded row strip by row strip at the end: memory grows with the
changed area only, never with the raster. Strips without a change reuse one compressed zero strip,
so an almost unchanged raster costs almost nothing to write.
"""

from __future__ import annotations

import os
import struct
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from zlib_ng import zlib_ng as zlib

from detection.errors import TileWriteError

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Rows per strip (at most about 4 MB of raw rows).
_STRIP_BYTES = 4_000_000
#: Deflate level: the masks are mostly zeros, where level 1 is nearly as small and much faster.
#: zlib-ng (a drop-in zlib) deflates a strip of the generated 20k speed pair's mask at this level
#: 4.5 times as fast as the standard library's zlib (0.9 against 4.1 ms; the stream is about 45 %
#: larger, still a few MB for 400 Mpx).
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
        # Each strip is deflated on its own (raw, ending at a full flush, so the pieces join into
        # one stream) on a few threads: zlib lets go of the GIL, and the workers are idle by the
        # time the mask is written. A strip without a change is one compressed zero strip.
        zero = zlib.compressobj(_LEVEL, zlib.DEFLATED, -15)
        zero_raw = bytes(rows * (w + 1))
        zero_strip = (zero.compress(zero_raw) + zero.flush(zlib.Z_FULL_FLUSH), zlib.adler32(zero_raw), len(zero_raw))
        out: list[bytes] = [b"\x78\x01"]  # the zlib header; the Adler-32 of all rows ends the stream
        size = 2
        adler = 1
        threads = max(1, min(_THREADS, os.cpu_count() or 1))
        pending: deque[Future[tuple[bytes, int, int]] | tuple[bytes, int, int]] = deque()

        def emit() -> None:  # the oldest strip, in order
            nonlocal adler, size, out
            head = pending.popleft()
            data, a, n = head.result() if isinstance(head, Future) else head
            adler = _adler32_combine(adler, a, n)
            out.append(data)
            size += len(data)
            if size > 1 << 20:
                write(_chunk(b"IDAT", b"".join(out)))
                out, size = [], 0

        with ThreadPoolExecutor(threads) as pool:
            # at most 2 * threads strips wait for their deflate while the next one is filled
            for strip in self._strips(rows, 2 * threads + 2):
                pending.append(zero_strip if strip is None else pool.submit(_deflate, strip))
                if len(pending) > 2 * threads:  # no more than a few strips in memory at once
                    emit()
            while pending:
                emit()
        out.append(zlib.compressobj(_LEVEL, zlib.DEFLATED, -15).flush(zlib.Z_FINISH))  # the final block
        out.append(struct.pack(">I", adler & 0xFFFFFFFF))
        write(_chunk(b"IDAT", b"".join(out)))
        write(_chunk(b"IEND", b""))

    def _strips(self, rows: int, buffers: int) -> Iterator[np.ndarray | None]:
        """The raw rows (filter byte first) of each strip of ``rows`` rows, None for a full strip
        without a change. The strips are filled into ``buffers`` arrays in turn (a strip is in use
        until ``buffers - 1`` more have been yielded): zeroing a buffer already mapped costs a
        tenth of a fresh one's page faults."""
        w, h = self.width, self.height
        patches = sorted(self._patches, key=lambda q: q[0])
        k = 0
        active: list[tuple[int, int, int, int, np.ndarray]] = []
        ring: list[np.ndarray] = []
        for y0 in range(0, h, rows):
            y1 = min(h, y0 + rows)
            while k < len(patches) and patches[k][0] < y1:
                active.append(patches[k])
                k += 1
            active = [q for q in active if q[0] + q[2] > y0]
            if not active and y1 - y0 == rows:
                yield None
                continue
            if len(ring) < buffers:
                ring.append(np.zeros((rows, w + 1), np.uint8))  # column 0: the filter byte (0 = none)
            else:
                ring.append(ring.pop(0))
                ring[-1].fill(0)
            strip = ring[-1][: y1 - y0]
            for r, c, ph, pw, bits in active:
                s0, s1 = max(r, y0), min(r + ph, y1)
                dense = np.unpackbits(bits[s0 - r : s1 - r], axis=1, count=pw) * np.uint8(255)
                dst = strip[s0 - y0 : s1 - y0, 1 + c : 1 + c + pw]
                np.maximum(dst, dense, out=dst)
            yield strip


#: Threads that deflate the strips of a mask.
_THREADS = 4


def _deflate(strip: np.ndarray) -> tuple[bytes, int, int]:
    """One strip's rows deflated (raw, ending at a full flush), their Adler-32 and length."""
    data = strip.data.cast("B")
    comp = zlib.compressobj(_LEVEL, zlib.DEFLATED, -15)
    return comp.compress(data) + comp.flush(zlib.Z_FULL_FLUSH), zlib.adler32(data), len(data)


def _adler32_combine(a1: int, a2: int, n2: int) -> int:
    """The Adler-32 of two pieces of data joined, from theirs and the second's length (zlib's
    ``adler32_combine``)."""
    base = 65521
    rem = n2 % base
    s1 = a1 & 0xFFFF
    s2 = (rem * s1) % base
    s1 = (s1 + (a2 & 0xFFFF) + base - 1) % base
    s2 = (s2 + (a1 >> 16) + (a2 >> 16) + base - rem) % base
    return (s2 << 16) | s1
