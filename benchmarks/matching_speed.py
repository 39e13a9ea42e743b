"""Speed of matching change polygons against a large violation database (one query per batch).

In a throwaway database: N violations and N parcels (10–20 m squares on a grid over a
district-sized area, statuses spread over the workflow), N/20 permits and 10 streets, written
with SQL ``generate_series``. Then batches of change polygons (a third on violations, the
rest anywhere) are classified with :func:`geo.matching.match`; prints polygons per second and
milliseconds per batch.

Usage::

    python benchmarks/matching_speed.py [--n 200000] [--changes 2000] [--batch 500]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from geo import matching  # noqa: E402
from geo.db import session_factory  # noqa: E402
from geo.testdb import throwaway_database  # noqa: E402
from tests.builders import metric_box  # noqa: E402

LON0, LAT0 = 121.35, 31.18
SIDE_DEG = 0.1  # about 10 km × 11 km


def fill(engine, n: int) -> None:  # type: ignore[no-untyped-def]
    per_row = int(n ** 0.5) + 1
    step = SIDE_DEG / per_row
    sq = (f"ST_Multi(ST_MakeEnvelope({LON0} + (i % {per_row}) * {step}, {LAT0} + (i / {per_row}) * {step},"
          f" {LON0} + (i % {per_row}) * {step} + {step} * (0.3 + 0.2 * random()),"
          f" {LAT0} + (i / {per_row}) * {step} + {step} * (0.3 + 0.2 * random()), 4326))")
    statuses = "(ARRAY['suspected','confirmed','case_filed','annotated','demolished','closed','dismissed'])"
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE violations DISABLE TRIGGER USER"))
        conn.execute(text(
            "INSERT INTO admin_units (code, name, level, geom) SELECT 'ST' || k, '街道' || k, 'street',"
            f" ST_Multi(ST_MakeEnvelope({LON0} + k * {SIDE_DEG / 10}, {LAT0}, {LON0} + (k + 1) * {SIDE_DEG / 10},"
            f" {LAT0} + {SIDE_DEG}, 4326)) FROM generate_series(0, 9) k"))
        conn.execute(text(
            f"INSERT INTO parcels (code, area_m2, geom) SELECT 'P' || i, 0, {sq.replace('0.3 + 0.2', '0.9 + 0.05')}"
            f" FROM generate_series(0, {n - 1}) i"))
        conn.execute(text(
            "INSERT INTO violations (code, kind, in_database, vtype, is_key, area_m2, source, discovered_at,"
            " status, status_at, version, geom)"
            f" SELECT 'V' || i, 'stock', true, 'shed', false, 100, 'database', now(), {statuses}[1 + i % 7], now(), 1,"
            f" {sq} FROM generate_series(0, {n - 1}) i"))
        conn.execute(text(
            f"INSERT INTO permits (permit_no, geom) SELECT 'XK' || i, {sq} FROM generate_series(0, {n - 1}, 20) i"))
        conn.execute(text("ALTER TABLE violations ENABLE TRIGGER USER"))
        conn.execute(text("ANALYZE"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--changes", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=500)
    args = ap.parse_args()
    rng = random.Random(7)
    with throwaway_database(prefix="wj_bench_match") as eng:
        t0 = time.perf_counter()
        fill(eng, args.n)
        took = time.perf_counter() - t0
        print(f"{args.n:,} violations and parcels, {args.n // 20:,} permits written in {took:.1f} s")
        changes = []
        for _ in range(args.changes):
            origin = (LON0 + rng.random() * SIDE_DEG, LAT0 + rng.random() * SIDE_DEG)
            g = matching.as_multipolygon(metric_box(0, 0, rng.uniform(3, 15), rng.uniform(3, 15), origin=origin))
            ch = matching.to_change(rng.choice(["appeared", "disappeared"]), g, 0.8, 4326)
            assert ch is not None
            changes.append(ch)
        with session_factory(eng)() as s:
            matching.match(s, changes[: args.batch], batch_size=args.batch)  # warm the caches
            t0 = time.perf_counter()
            out = matching.match(s, changes, batch_size=args.batch)
            dt = time.perf_counter() - t0
        batches = -(-args.changes // args.batch)
        print(f"matched {len(out):,} polygons in {dt:.2f} s: {len(out) / dt:,.0f} polygons/s, "
              f"{1000 * dt / batches:.0f} ms per batch of {args.batch} (one query each)")
        print("classes:", dict(sorted(Counter(m.result.klass for m in out).items())))


if __name__ == "__main__":
    main()
