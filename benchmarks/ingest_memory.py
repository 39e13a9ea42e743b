"""Peak memory (RSS) of ingesting a 2 GB GeoTIFF: validation, checksum, COG conversion, rows.

Generates (once, kept in ``benchmarks/out/``) an uncompressed tiled RGB GeoTIFF of about
2 GB (26,000 × 26,000 px at 0.05 m, EPSG:4549, over Shanghai), then ingests it in a child
process into a throwaway database and prints the child's peak resident memory (VmHWM) and
the time of each stage. Target: peak RSS under 500 MB.

    python benchmarks/ingest_memory.py [--side 26000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = Path(__file__).resolve().parent / "out"
LON, LAT = 121.40, 31.24
RES = 0.05

CHILD = r"""
import json, resource, sys, time
from datetime import datetime, timedelta, timezone
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from geo.config import Settings
from geo.db import make_engine
from geo.imagery.ingest import ingest_file
from geo.imagery.validate import Limits

engine = make_engine(sys.argv[2])
stages, last = {}, [time.perf_counter(), "validate"]
def progress(stage, fraction):
    if stage != last[1]:
        now = time.perf_counter()
        stages[last[1]] = round(now - last[0], 1)
        last[0], last[1] = now, stage
t0 = time.perf_counter()
res = ingest_file(engine, Settings(data_dir=Path(sys.argv[4])), Path(sys.argv[3]), sensor="drone",
                  captured_at=datetime(2025, 3, 14, 10, 20, tzinfo=timezone(timedelta(hours=8))),
                  limits=Limits(), progress=progress)
hwm = 0
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        hwm = int(line.split()[1])
print(json.dumps({"scene_id": res.scene_id, "seconds": round(time.perf_counter() - t0, 1), "stages": stages,
                  "peak_rss_kib": hwm, "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def make_big(side: int, path: Path) -> None:
    """An uncompressed tiled RGB GeoTIFF of side × side px, written block by block."""
    if path.exists() and path.stat().st_size >= side * side * 3:
        return
    import numpy as np
    import rasterio
    from pyproj import Transformer
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    x0, y0 = Transformer.from_crs("EPSG:4326", "EPSG:4549", always_xy=True).transform(LON, LAT)
    prof = {"driver": "GTiff", "width": side, "height": side, "count": 3, "dtype": "uint8", "crs": "EPSG:4549",
            "transform": from_origin(x0, y0, RES, RES), "tiled": True, "blockxsize": 512, "blockysize": 512,
            "BIGTIFF": "YES", "photometric": "RGB"}
    rng = np.random.default_rng(1)
    base = np.kron(rng.integers(40, 220, size=(3, 64, 64)).astype(np.uint8), np.ones((1, 32, 32), np.uint8))
    t0 = time.perf_counter()
    tmp = path.with_suffix(".part.tif")
    with rasterio.open(tmp, "w", **prof) as dst:
        step = 2048
        for r in range(0, side, step):
            for c in range(0, side, step):
                h, w = min(step, side - r), min(step, side - c)
                dst.write(np.roll(base, (r + c) // 7, axis=2)[:, :h, :w], window=Window(c, r, w, h))
    tmp.rename(path)
    print(f"generated {path.name}: {path.stat().st_size / 1e9:.2f} GB in {time.perf_counter() - t0:.0f} s",
          flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", type=int, default=26000)
    args = ap.parse_args()
    from geo.testdb import throwaway_database

    OUT.mkdir(parents=True, exist_ok=True)
    big = OUT / f"ingest_{args.side}.tif"
    make_big(args.side, big)
    data_dir = OUT / "ingest-data"
    if data_dir.exists():
        import shutil

        shutil.rmtree(data_dir)
    with throwaway_database(prefix="wj_bench_ingest") as engine:
        url = engine.url.render_as_string(hide_password=False)
        proc = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), url, str(big), str(data_dir)],
                              capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stderr[-3000:])
        sys.exit(1)
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    peak_mb = res["peak_rss_kib"] / 1024
    print(f"file: {big.stat().st_size / 1e9:.2f} GB ({args.side} x {args.side} px RGB, uncompressed, EPSG:4549)")
    print(f"ingest time: {res['seconds']} s  stages (s): {res['stages']}")
    print(f"peak RSS: {peak_mb:.0f} MB  (target < 500 MB: {'MET' if peak_mb < 500 else 'MISSED'})")
    cog = next((data_dir / "scenes").glob("??/*.tif"))
    print(f"stored COG: {cog.stat().st_size / 1e9:.2f} GB")


if __name__ == "__main__":
    main()
