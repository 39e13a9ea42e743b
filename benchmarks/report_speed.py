"""Time of one district month's report (HTML + PDF + XLSX) on 100,000 items and 1,000,000 events.

The data is generated with SQL (generate_series) in a throwaway database, which is dropped
afterwards. Prints the figures; the target is under 10 seconds for all three files.

    python benchmarks/report_speed.py [--violations 100000] [--events-per-item 10] [--month 2025-03]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text

from geo.db import session_factory
from geo.testdb import throwaway_database

STREETS = 10
# Each item walks this path; its last step varies (see LAST).
PATH = ["suspected", "confirmed", "case_filed", "annotated", "annotation_lifted",
        "annotated", "annotation_lifted", "annotated", "annotation_lifted"]
LAST = ["demolished", "permit_granted", "closed"]

SETUP = """
INSERT INTO admin_units (id, code, name, level, parent_id, geom)
VALUES (1, 'BENCH', '基准区', 'district', NULL, ST_Multi(ST_MakeEnvelope(121.30, 31.10, 121.50, 31.30, 4326)));
INSERT INTO admin_units (id, code, name, level, parent_id, geom)
SELECT 1 + s, 'BENCH-' || s, '基准街道' || s, 'street', 1,
       ST_Multi(ST_MakeEnvelope(121.30 + 0.02 * (s - 1), 31.10, 121.30 + 0.02 * s, 31.30, 4326))
FROM generate_series(1, :streets) s;
SELECT setval(pg_get_serial_sequence('admin_units', 'id'), 100);
"""

VIOLATIONS = """
INSERT INTO violations (id, code, kind, in_database, vtype, is_key, area_m2, street_id, source,
                        discovered_at, status, status_at, version, geom)
SELECT g, 'B' || g,
       CASE WHEN g % 10 < 3 THEN 'new' ELSE 'stock' END,
       g % 10 >= 3,
       (ARRAY['villa','rooftop','courtyard','factory','pigeon_loft','shopfront','shed','other'])[1 + g % 8],
       g % 7 = 0,
       round((20 + (g * 7919) % 800)::numeric, 2),
       2 + g % :streets,
       CASE WHEN g % 10 >= 3 THEN 'database' ELSE (ARRAY['imagery','patrol','complaint'])[1 + (g / 10) % 3] END,
       timestamptz '2024-04-01 00:00+08' + ((g * 104729) % 365) * interval '1 day' + (g % 86400) * interval '1 second',
       'suspected', now(), 1,
       ST_Multi(ST_MakeEnvelope(121.301 + 0.02 * (g % :streets) + ((g * 31) % 170) * 0.0001,
                                31.101 + ((g * 17) % 1900) * 0.0001,
                                121.301 + 0.02 * (g % :streets) + ((g * 31) % 170) * 0.0001 + 0.00008,
                                31.101 + ((g * 17) % 1900) * 0.0001 + 0.00008, 4326))
FROM generate_series(CAST(1 AS bigint), :n) g
"""

EVENTS = """
INSERT INTO violation_events (violation_id, from_status, to_status, occurred_at, actor_name, evidence)
SELECT v.id,
       CASE WHEN s.i = 1 THEN NULL WHEN s.i <= cardinality(p.path) THEN p.path[s.i - 1]
            ELSE p.path[cardinality(p.path)] END,
       CASE WHEN s.i <= cardinality(p.path) THEN p.path[s.i] ELSE (p.last)[1 + v.id % 3] END,
       v.discovered_at + (s.i - 1) * (1 + v.id % 6) * interval '1 day',
       'bench', '[]'::jsonb
FROM violations v
CROSS JOIN (SELECT CAST(:path AS text[]) AS path, CAST(:last AS text[]) AS last) p
CROSS JOIN LATERAL generate_series(1, :per) s(i)
ORDER BY v.id, s.i
"""

FINISH = """
UPDATE violations v SET status = e.to_status, status_at = e.occurred_at, version = e.n
FROM (SELECT DISTINCT ON (violation_id) violation_id, to_status, occurred_at,
             count(*) OVER (PARTITION BY violation_id) AS n
      FROM violation_events ORDER BY violation_id, id DESC) e
WHERE e.violation_id = v.id;
INSERT INTO complaints (ticket_no, received_at, about, street_id, is_key, verdict, verified_at, explained_at,
                        resolved_at, geom)
SELECT 'C' || g, timestamptz '2024-04-01 00:00+08' + ((g * 7907) % 365) * interval '1 day',
       CASE WHEN g % 5 = 0 THEN 'new' ELSE 'stock' END, 2 + g % :streets, g % 9 <> 0,
       CASE WHEN g % 3 = 0 THEN 'untrue' ELSE 'true' END,
       timestamptz '2024-04-02 00:00+08' + ((g * 7907) % 365) * interval '1 day',
       CASE WHEN g % 9 = 0 THEN timestamptz '2024-04-03 00:00+08' + ((g * 7907) % 365) * interval '1 day' END,
       CASE WHEN g % 3 <> 0 AND g % 11 <> 0
            THEN timestamptz '2024-04-09 00:00+08' + ((g * 7907) % 365) * interval '1 day' END,
       ST_SetSRID(ST_MakePoint(121.4, 31.2), 4326)
FROM generate_series(CAST(1 AS bigint), :complaints) g;
INSERT INTO sorties (code, pilot, flown_at, street_id)
SELECT 'S' || g, 'pilot' || (g % 25), timestamptz '2024-04-01 08:00+08' + ((g * 13) % 365) * interval '1 day',
       2 + g % :streets
FROM generate_series(1, :sorties) g;
INSERT INTO annual_targets (year, unit_id, closure_area_m2, closure_count, permit_area_m2)
SELECT y, u, CASE WHEN u = 1 THEN 1200000 ELSE 120000 END, NULL, CASE WHEN u = 1 THEN 360000 ELSE 36000 END
FROM generate_series(2024, 2025) y, generate_series(1, 1 + :streets) u;
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--violations", type=int, default=100_000)
    ap.add_argument("--events-per-item", type=int, default=10)
    ap.add_argument("--month", default="2025-03")
    ap.add_argument("--keep", type=Path, help="copy the three files into this folder")
    args = ap.parse_args()

    from reports import build, periods, render_html, render_pdf, render_xlsx
    from reports import config as rconfig
    from reports import scope as rscope
    from reports.generate import FILES, write_atomic
    from reports.tables import build_tables

    with throwaway_database(prefix="wj_bench") as engine:
        t0 = time.perf_counter()
        params = {"streets": STREETS, "n": args.violations, "per": args.events_per_item, "path": PATH,
                  "last": LAST, "complaints": 20_000, "sorties": 3_000}
        with engine.begin() as conn:
            # bulk load: skip the per-row triggers (event chain check, map counters); the data
            # is generated consistent
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            for sql in (SETUP, VIOLATIONS, EVENTS, FINISH):
                for stmt in [s for s in sql.split(";\n") if s.strip()]:
                    conn.execute(text(stmt), {k: v for k, v in params.items() if f":{k}" in stmt})
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
            nv = conn.execute(text("SELECT count(*) FROM violations")).scalar_one()
            ne = conn.execute(text("SELECT count(*) FROM violation_events")).scalar_one()
        print(f"generated {nv:,} violations and {ne:,} events in {time.perf_counter() - t0:.1f} s")

        period = periods.month(args.month)
        cfg = rconfig.load()
        session = session_factory(engine)()
        timings: dict[str, float] = {}
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            sc = rscope.resolve(session)
            rep = build.build(session, period, sc, cfg)
            timings["figures (SQL, 12 months)"] = time.perf_counter() - start
            t = time.perf_counter()
            tables = build_tables(rep)
            pngs = render_html.images(rep)
            timings["charts + map"] = time.perf_counter() - t
            t = time.perf_counter()
            html = render_html.render(rep, pngs, tables)
            write_atomic(Path(tmp) / FILES[0], html.encode("utf-8"))
            timings["index.html"] = time.perf_counter() - t
            t = time.perf_counter()
            write_atomic(Path(tmp) / FILES[1], render_pdf.render(html))
            timings["report.pdf"] = time.perf_counter() - t
            t = time.perf_counter()
            write_atomic(Path(tmp) / FILES[2], render_xlsx.render(rep, tables))
            timings["report.xlsx"] = time.perf_counter() - t
            total = time.perf_counter() - start
            sizes = {f: (Path(tmp) / f).stat().st_size for f in FILES}
            if args.keep:
                args.keep.mkdir(parents=True, exist_ok=True)
                for f in FILES:
                    (args.keep / f).write_bytes((Path(tmp) / f).read_bytes())
        session.close()
        from reports.scope import TOTAL

        fig = rep.figures[TOTAL]
        print(f"month {args.month}: {fig.found_total:,} new found, {len(rep.map_items):,} on the map, "
              f"{fig.closed_in_period:,} closed, {fig.complaints_received:,} complaints")
        for k, v in timings.items():
            print(f"  {k:<26} {v:6.2f} s")
        print(f"  {'total':<26} {total:6.2f} s  (target < 10 s: {'ok' if total < 10 else 'MISSED'})")
        print("  sizes: " + ", ".join(f"{k} {v / 1e3:.0f} kB" for k, v in sizes.items()))


if __name__ == "__main__":
    main()
