"""Speed and memory of the full ``detect`` path on big generated GeoTIFF pairs.

Generates before/after GeoTIFF pairs (0.5 m/px, EPSG:32651, RGB uint8, tiled 512x512,
uncompressed) of 5k, 10k and 20k pixels square into ``benchmarks/out/`` (git-ignored), with
synthetic buildings, roads and vegetation, an illumination change, sensor noise, a sub-pixel
misregistration and about 1 % of the area changed (new buildings and demolitions). Then runs the
same path as ``python app.py detect`` (windowed read, alignment, two-stage change, vectorisation,
seam merge, mask PNG + GeoJSON written) on a Dask ``LocalCluster`` with 1 and 2 single-threaded
worker processes, and the plain numpy CVA baseline (windowed read, Lab CVA, Otsu, 5x5 opening,
mask written) on one core, and prints wall time, Mpx/s per core and peak memory (resident set of
the client plus all workers, sampled every 0.1 s). The generator also writes the changed pixels
(new and demolished buildings told apart), and what each method found of them is printed under
its timings (scored after the clock stops), so that a faster run cannot be one that finds less.
No records are given, so the detect path does not look for demolitions here (it does so inside
recorded violations only); the new buildings are the figure to compare.

Usage::

    python benchmarks/changedet_speed.py [--sizes 5000 10000 20000] [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import psutil
import rasterio
from affine import Affine
from rasterio.windows import Window

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from detection import rasterio_io, windows  # noqa: E402
from detection.cli_support import run_detect  # noqa: E402
from detection.distributed import close_client, get_client  # noqa: E402
from detection.mask_png import BinaryMaskPng  # noqa: E402
from detection.metrics import Scores, cva_baseline  # noqa: E402

OUT = ROOT / "benchmarks" / "out"
GSD = 0.5
BLOCK = 1024
#: Kinds of change in the generated truth.
APPEARED, VANISHED = 1, 2


def _scene_block(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One block of a synthetic scene: (before, after) uint8 RGB with a few changes, and the
    uint8 kind of each changed pixel (:data:`APPEARED` or :data:`VANISHED`, 0 unchanged; no change
    crosses a block's edge)."""
    # ground: smooth mixture of soil and vegetation with texture
    veg = cv2.resize(rng.uniform(0, 1, (max(2, h // 64), max(2, w // 64))).astype(np.float32), (w, h))
    soil = np.array([150, 135, 110], np.float32)
    green = np.array([70, 105, 60], np.float32)
    img = soil * (1 - veg[..., None]) + green * veg[..., None]
    img += rng.normal(0, 8, (h, w, 3)).astype(np.float32)
    # roads
    for _ in range(2):
        if rng.random() < 0.5:
            y = int(rng.integers(0, h))
            img[max(0, y - 6) : y + 6] = (120, 120, 118)
        else:
            x = int(rng.integers(0, w))
            img[:, max(0, x - 6) : x + 6] = (120, 120, 118)
    before = img.copy()
    after = img.copy()
    gone = np.zeros((h, w), bool)
    new = np.zeros((h, w), bool)

    def building(dst: np.ndarray, y: int, x: int, bh: int, bw: int) -> None:
        tone = rng.uniform(150, 230)
        roof = np.array([tone, tone * rng.uniform(0.95, 1.02), tone * rng.uniform(0.95, 1.1)], np.float32)
        dst[y : y + bh, x : x + bw] = roof + rng.normal(0, 5, (min(bh, h - y), min(bw, w - x), 3))
        dst[min(h - 1, y + bh) : min(h, y + bh + 4), x : x + bw] *= 0.45  # shadow

    # existing buildings (in both), some demolished in after
    for _ in range(int(h * w / 40_000)):
        y, x = int(rng.integers(0, h - 40)), int(rng.integers(0, w - 40))
        bh, bw = int(rng.integers(12, 36)), int(rng.integers(12, 36))
        building(before, y, x, bh, bw)
        if rng.random() < 0.06:
            after[y : y + bh + 4, x : x + bw] = soil + rng.normal(0, 8, (min(bh + 4, h - y), min(bw, w - x), 3))
            gone[y : y + bh + 4, x : x + bw] = True
        else:
            after[y : y + bh + 4, x : x + bw] = before[y : y + bh + 4, x : x + bw]
    # new buildings in after
    for _ in range(int(h * w / 300_000) + 1):
        y, x = int(rng.integers(0, h - 40)), int(rng.integers(0, w - 40))
        bh, bw = int(rng.integers(12, 36)), int(rng.integers(12, 36))
        building(after, y, x, bh, bw)
        new[y : y + bh + 4, x : x + bw] = True
    changed = np.any(after != before, axis=2)
    kind = np.where(changed, np.where(gone & ~new, VANISHED, APPEARED), 0).astype(np.uint8)
    # illumination change and sensor noise
    after = after * 0.9 + 12 + np.asarray(rng.normal(0, 3, after.shape), np.float32)
    return np.clip(before, 0, 255).astype(np.uint8), np.clip(after, 0, 255).astype(np.uint8), kind


def truth_path(size: int, folder: Path) -> Path:
    """The generated pair's changed pixels: a one-band GeoTIFF on the after grid, 0 unchanged,
    :data:`APPEARED` a new building, :data:`VANISHED` a demolished one."""
    return folder / f"truth_kinds_{size}.tif"


def generate_pair(size: int, folder: Path, seed: int = 0) -> tuple[Path, Path]:
    """Write a ``size`` x ``size`` before/after GeoTIFF pair block by block (memory flat), and its
    truth (see :func:`truth_path`)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = (folder / f"before_{size}.tif", folder / f"after_{size}.tif", truth_path(size, folder))
    if all(p.exists() for p in paths):
        return paths[0], paths[1]
    x0, y0 = 350_000.0, 3_460_000.0
    t_before = Affine(GSD, 0, x0, 0, -GSD, y0)
    t_after = Affine(GSD, 0, x0 + 0.3 * GSD, 0, -GSD, y0 - 0.2 * GSD)  # sub-pixel misregistration
    profile = {"driver": "GTiff", "width": size, "height": size, "count": 3, "dtype": "uint8",
               "crs": "EPSG:32651", "tiled": True, "blockxsize": 512, "blockysize": 512, "interleave": "pixel"}
    rng = np.random.default_rng(seed)
    tmp = [p.with_suffix(".part.tif") for p in paths]
    with rasterio.open(tmp[0], "w", transform=t_before, **profile) as b, \
            rasterio.open(tmp[1], "w", transform=t_after, **profile) as a, \
            rasterio.open(tmp[2], "w", transform=t_after, **{**profile, "count": 1}) as truth:
        for r in range(0, size, BLOCK):
            for c in range(0, size, BLOCK):
                h, w = min(BLOCK, size - r), min(BLOCK, size - c)
                bb, aa, kind = _scene_block(rng, h, w)
                win = Window(c, r, w, h)
                b.write(np.moveaxis(bb, -1, 0), window=win)
                a.write(np.moveaxis(aa, -1, 0), window=win)
                truth.write(kind[None], window=win)
    for t, p in zip(tmp, paths, strict=True):
        t.replace(p)  # complete files only: an interrupted run never leaves a half pair behind
    return paths[0], paths[1]


def score_against_truth(mask_png: Path, truth: Path) -> tuple[Scores, Scores, Scores]:
    """Pixel and object scores of a detect mask against the generated truth, block by block (the
    generator's blocks: no change crosses one): over all changes, then over new and over
    demolished buildings alone (of these two only the object recall is meant to be read)."""
    pred = cv2.imread(str(mask_png), cv2.IMREAD_GRAYSCALE)
    if pred is None:
        raise FileNotFoundError(mask_png)
    every, new, gone = Scores(), Scores(), Scores()
    with rasterio.open(truth) as ds:
        for r in range(0, ds.height, BLOCK):
            for c in range(0, ds.width, BLOCK):
                h, w = min(BLOCK, ds.height - r), min(BLOCK, ds.width - c)
                p, t = pred[r : r + h, c : c + w] > 0, ds.read(1, window=Window(c, r, w, h))
                every.add(p, t > 0)
                new.add(p, t == APPEARED)
                gone.add(p, t == VANISHED)
    return every, new, gone


class PeakMemory:
    """Sample the resident memory and CPU time of this process and all its children.

    ``cpu_seconds`` (user + system time used while sampling, summed over the processes) gives a
    rate that a loaded, shared machine does not distort as much as wall time does.
    """

    def __init__(self) -> None:
        self.peak = 0
        self._cpu0: dict[int, float] = {}
        self._cpu1: dict[int, float] = {}
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    @property
    def cpu_seconds(self) -> float:
        """CPU seconds used by this process and its children since sampling started."""
        return sum(self._cpu1[p] - self._cpu0.get(p, 0.0) for p in self._cpu1)

    def _sample(self, first: bool) -> None:
        me = psutil.Process()
        total = 0
        for p in [me, *me.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
                t = p.cpu_times()
                used = t.user + t.system
                if first:
                    self._cpu0[p.pid] = used
                self._cpu1[p.pid] = used
        self.peak = max(self.peak, total)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample(False)
            time.sleep(0.1)

    def __enter__(self) -> PeakMemory:
        self._sample(True)
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()
        self._sample(False)


def run_ours(before: Path, after: Path, workers: int, folder: Path) -> tuple[float, int, int, float]:
    """The detect path on a fresh LocalCluster; returns (seconds, peak bytes, polygons, CPU seconds)."""
    client = get_client(n_workers=workers, threads_per_worker=1, processes=True, memory_limit="3GiB")
    try:
        with PeakMemory() as mem:
            t0 = time.perf_counter()
            s = run_detect(before, after, folder / "mask.png", folder / "out.geojson", client=client)
            secs = time.perf_counter() - t0
    finally:
        close_client(client)
    return secs, mem.peak, s.polygons, mem.cpu_seconds


def run_baseline(before: Path, after: Path, folder: Path) -> tuple[float, int, float]:
    """Plain numpy/OpenCV CVA in Lab + Otsu + 5x5 opening, windowed, one core, mask written.

    Reads and writes the way the detect path does (pixel-interleaved window reads, the same PNG
    writer), so the ratio compares the methods, not the I/O.
    """
    i = rasterio_io.info(after)
    with PeakMemory() as mem:
        t0 = time.perf_counter()
        png = BinaryMaskPng(i.width, i.height)
        for t in windows.tiles(i.width, i.height, 2048, 0):
            with rasterio_io.opened(before) as ds:
                a, _ = rasterio_io.read_rgb8(ds, t.read)
            with rasterio_io.opened(after) as ds:
                b, _ = rasterio_io.read_rgb8(ds, t.read)
            png.add(int(t.core.row_off), int(t.core.col_off), cva_baseline(a, b))
        png.write(folder / "base.png")
        secs = time.perf_counter() - t0
    return secs, mem.peak, mem.cpu_seconds


def main(argv: list[str] | None = None) -> int:
    """Generate, run and print."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="*", type=int, default=[5000, 10000, 20000])
    ap.add_argument("--workers", nargs="*", type=int, default=[1, 2])
    ap.add_argument("--both-at", type=int, default=None,
                    help="size at which every worker count runs (default: the largest); others run the first")
    ap.add_argument("--keep", action="store_true", help="keep the generated rasters in benchmarks/out")
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)
    folder = OUT / "speed"
    print(f"machine: {psutil.cpu_count()} cores, load average {psutil.getloadavg()[0]:.1f} at start")
    print("Mpx/s/core = Mpx / wall s / workers; Mpx/cpu-s = Mpx / CPU seconds of client + workers "
          "(less distorted by other load)")
    print("size      workers  wall s   Mpx/s/core  Mpx/cpu-s  peak MB  polygons | "
          "baseline 1 core: wall s  Mpx/s  Mpx/cpu-s  peak MB | ratio (cpu)")
    try:
        for size in args.sizes:
            t0 = time.perf_counter()
            before, after = generate_pair(size, folder)
            gen = time.perf_counter() - t0
            mpx = size * size / 1e6
            bsecs, bpeak, bcpu = run_baseline(before, after, folder)
            brate = mpx / bsecs
            bcrate = mpx / max(bcpu, 1e-9)
            both_at = args.both_at or max(args.sizes)
            for k in args.workers if size == both_at else args.workers[:1]:
                secs, peak, npoly, cpu = run_ours(before, after, k, folder)
                rate = mpx / secs / k
                crate = mpx / max(cpu, 1e-9)
                print(f"{size:>5}^2   {k:>3}    {secs:7.1f}   {rate:8.1f}   {crate:8.1f}   {peak / 2**20:7.0f}  "
                      f"{npoly:8d} | {bsecs:20.1f}  {brate:5.1f}  {bcrate:8.1f}  {bpeak / 2**20:7.0f} | "
                      f"{rate / brate:5.2f} ({crate / bcrate:4.2f})", flush=True)
            # what was found, so a faster run is not one that finds less (scored untimed)
            truth = truth_path(size, folder)
            (ours, o_new, o_gone), (base, b_new, b_gone) = (
                score_against_truth(folder / name, truth) for name in ("mask.png", "base.png"))
            print(f"          generated changes found ({ours.objects} objects): ours object recall "
                  f"{ours.object_recall:.3f}, pixel P {ours.precision:.3f} R {ours.recall:.3f}, "
                  f"{ours.false_blobs_per_mpx:.1f} false blobs/Mpx | CVA {base.object_recall:.3f}, "
                  f"P {base.precision:.3f} R {base.recall:.3f}, {base.false_blobs_per_mpx:.1f}")
            # the detect path looks for vanished structures only inside given records (none here)
            print(f"          object recall of the {o_new.objects} new buildings: ours {o_new.object_recall:.3f}, "
                  f"CVA {b_new.object_recall:.3f}; of the {o_gone.objects} demolished (no records given, so "
                  f"not looked for by ours): ours {o_gone.object_recall:.3f}, CVA {b_gone.object_recall:.3f}")
            print(f"          (pair generated in {gen:.0f} s; not timed)")
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
