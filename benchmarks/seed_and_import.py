"""Time of the demo seed, and of exporting and re-importing its parcels and violations.

Everything happens in throwaway databases, dropped afterwards. Prints the figures; the
targets are a full seed (about 20,000 parcels, 3,000+ items and their events) under 60 s,
and 20,000 parcels imported in a few seconds.

    python benchmarks/seed_and_import.py [--seed 2025] [--scale 1.0]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from geo.db import session_factory, transaction  # noqa: E402
from geo.io.exporter import export  # noqa: E402
from geo.io.importer import import_file  # noqa: E402
from geo.seed import seed_demo  # noqa: E402
from geo.synthetic import FULL  # noqa: E402
from geo.testdb import throwaway_database  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seed", type=int, default=2025)
    ap.add_argument("--scale", type=float, default=1.0)
    args = ap.parse_args()
    size = FULL if args.scale == 1.0 else FULL.scaled(args.scale)
    with tempfile.TemporaryDirectory() as tmp, throwaway_database(prefix="wj_bench_seed") as src:
        report = seed_demo(src, args.seed, size=size)
        print(f"seed-demo: {report.seconds:.1f} s  " + ", ".join(f"{k} {v}" for k, v in report.counts.items()))
        files = {}
        with session_factory(src)() as s:
            for kind in ("admin-units", "parcels", "violations"):
                t0 = time.perf_counter()
                files[kind] = Path(tmp) / f"{kind}.gpkg"
                n = export(s, kind, "gpkg", files[kind]).rows
                print(f"export {kind} (gpkg): {n} rows in {time.perf_counter() - t0:.1f} s")
        with throwaway_database(prefix="wj_bench_import") as dst:
            for kind in ("admin-units", "parcels", "violations"):
                t0 = time.perf_counter()
                with transaction(session_factory(dst)) as s:
                    n = import_file(s, kind, files[kind]).rows
                print(f"import {kind} (gpkg): {n} rows in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
