"""Vector-tile latency and throughput at city scale.

Loads N violations (default 1,000,000) and M parcels (default 2,000,000) into a throwaway
PostGIS database with set-based SQL (``generate_series``), clusters both tables on their
spatial index, rebuilds the grid counts, then serves the real Flask app with waitress on a
loopback port (in its own process) and requests tiles of zooms 12–18 with 8 concurrent
clients over keep-alive HTTP, logged in as a district-office user.

Prints p50 / p95 / max latency per zoom (both heavy layers, violations and parcels) for one
client (service time) and for 8 concurrent clients, the overall tiles per second, the load
average of the machine (on a shared machine, queueing behind other work shows up in the
concurrent figures), and the CPU time spent per tile: by the web server process and by its
PostgreSQL backends (read from /proc, so only with a server on this machine). The CPU figures
are not distorted by other load. Targets (issue 5): p95 < 100 ms per tile, >= 50 tiles/s.

    .venv/bin/python benchmarks/tiles_vector.py [--violations 1000000] [--parcels 2000000]
"""

from __future__ import annotations

import argparse
import http.client
import math
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

#: The synthetic city: lon 121.20–121.70, lat 31.00–31.40 (about 47 km × 44 km), ten street strips.
WEST, SOUTH, EAST, NORTH = 121.20, 31.00, 121.70, 31.40
STREETS = 10
USER, PASSWORD = "bench-office", "bench-password-1"


def _step(label: str, started: float) -> float:
    now = time.perf_counter()
    print(f"  {label}: {now - started:.1f} s", flush=True)
    return now


def load(engine: Engine, violations: int, parcels: int) -> None:
    """Fill the database with streets, parcels and violations (set-based SQL, triggers bypassed, then rebuilt)."""
    from geo.db import session_factory
    from geo.users import create_user

    t = time.perf_counter()
    width = (EAST - WEST) / STREETS
    side = max(1, int(math.sqrt(parcels)))
    with engine.begin() as conn:
        if not conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar():
            raise SystemExit("the benchmark bulk-loads with triggers bypassed and needs a superuser connection")
        conn.execute(text("SET session_replication_role = replica"))
        conn.execute(text("""
            INSERT INTO admin_units (id, code, name, level, geom)
            SELECT 9000 + s, 'BS' || s, '基准街道' || s, 'street',
                   ST_Multi(ST_MakeEnvelope(:w + (s - 1) * :sw, :s0, :w + s * :sw, :n, 4326))
            FROM generate_series(1, :k) s
        """), {"w": WEST, "sw": width, "s0": SOUTH, "n": NORTH, "k": STREETS})
        t = _step("streets", t)
        conn.execute(text("""
            INSERT INTO parcels (code, address, land_use, street_id, area_m2, geom)
            SELECT 'BP' || g, NULL, 'residential', 9001 + least(floor((x0 - :w) / :sw)::int, :k - 1), 0,
                   ST_Multi(ST_MakeEnvelope(x0 + dx * 0.08, y0 + dy * 0.08, x0 + dx * 0.92, y0 + dy * 0.92, 4326))
            FROM (
                SELECT g, :w + ((g - 1) % :side) * dx AS x0, :s0 + ((g - 1) / :side) * dy AS y0, dx, dy
                FROM generate_series(1, :m) g,
                     LATERAL (SELECT (:e - :w) / :side AS dx, (:n - :s0) / ceil(CAST(:m AS float8) / :side) AS dy) d
            ) p
        """), {"w": WEST, "e": EAST, "s0": SOUTH, "n": NORTH, "sw": width, "k": STREETS, "side": side, "m": parcels})
        t = _step(f"{parcels:,} parcels", t)
        conn.execute(text("""
            INSERT INTO violations (code, kind, in_database, vtype, is_key, area_m2, street_id, source,
                                    discovered_at, status, status_at, version, geom)
            SELECT 'BV' || g, CASE WHEN r1 < 0.3 THEN 'new' ELSE 'stock' END, r2 < 0.6,
                   (ARRAY['villa','rooftop','courtyard','factory','pigeon_loft','shopfront','shed','other'])
                       [1 + floor(r3 * 8)::int],
                   r4 < 0.2, (hx * 2 * 95400) * (hy * 2 * 111000),
                   9001 + least(floor((x - :w) / :sw)::int, :k - 1), 'database',
                   now() - r5 * interval '730 days',
                   (ARRAY['suspected','confirmed','dismissed','case_filed','demolished','permit_granted',
                          'annotated','annotation_lifted','regularised','closed'])[1 + floor(r6 * 10)::int],
                   now(), 1,
                   ST_Multi(ST_MakeEnvelope(x - hx, y - hy, x + hx, y + hy, 4326))
            FROM (
                SELECT g, :w + random() * (:e - :w) AS x, :s0 + random() * (:n - :s0) AS y,
                       (5 + random() * 15) / 95400.0 AS hx, (5 + random() * 15) / 111000.0 AS hy,
                       random() r1, random() r2, random() r3, random() r4, random() r5, random() r6
                FROM generate_series(1, :v) g
            ) s
        """), {"w": WEST, "e": EAST, "s0": SOUTH, "n": NORTH, "sw": width, "k": STREETS, "v": violations})
        t = _step(f"{violations:,} violations", t)
        conn.execute(text("SELECT wj_grid_rebuild()"))
        t = _step("grid counts rebuilt", t)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("parcels", "violations"):
            index = conn.execute(text(
                "SELECT indexname FROM pg_indexes WHERE tablename = :t AND indexdef ILIKE '%gist%geom%'"),
                {"t": table}).scalar()
            conn.execute(text(f'CLUSTER {table} USING "{index}"'))
            conn.execute(text(f"ANALYZE {table}"))
            t = _step(f"{table} clustered on {index}", t)
        conn.execute(text("ANALYZE map_grid_counts"))
    with session_factory(engine).begin() as session:
        create_user(session, USER, PASSWORD, "office")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SERVER = """
import logging
import sys
sys.path.insert(0, {root!r})
logging.getLogger("waitress.queue").setLevel(logging.ERROR)
from waitress import serve
from webmap.factory import create_app
app = create_app({{"DATABASE_URL": {url!r}, "SECRET_KEY": "bench", "DATA_DIR": {data!r},
                  "SESSION_COOKIE_SECURE": False, "DB_POOL_SIZE": {pool}, "TILE_CONCURRENCY": {slots}}})
serve(app, host="127.0.0.1", port={port}, threads={threads}, connection_limit=200, _quiet=True)
"""


def serve(url: str, data_dir: str, threads: int, pool: int, slots: int) -> tuple[subprocess.Popen[bytes], int]:
    """Start the app under waitress in a child process; return it and its port."""
    port = _free_port()
    code = SERVER.format(root=str(ROOT), url=url, data=data_dir, port=port, threads=threads, pool=pool, slots=slots)
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc, port
        except OSError:
            if proc.poll() is not None:
                raise SystemExit("the web server exited during start-up") from None
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the web server did not start within 60 s")


def login(port: int) -> str:
    """Log in as the benchmark user; return the Cookie header."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/login")
    resp = conn.getresponse()
    page = resp.read().decode()
    cookie = resp.getheader("Set-Cookie", "").split(";")[0]
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token, "no CSRF token on the login page"
    body = urllib.parse.urlencode({"username": USER, "password": PASSWORD, "csrf_token": token.group(1)})
    conn.request("POST", "/login", body=body, headers={"Cookie": cookie,
                                                        "Content-Type": "application/x-www-form-urlencoded"})
    resp = conn.getresponse()
    resp.read()
    if resp.status != 302:
        raise SystemExit(f"login failed with HTTP {resp.status}")
    return resp.getheader("Set-Cookie", "").split(";")[0] or cookie


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def plan(per_zoom: int, seed: int) -> list[tuple[int, str]]:
    """Tile requests (zoom, path) over the city, both heavy layers, shuffled."""
    rng = random.Random(seed)
    out = []
    for z in range(12, 19):
        for _ in range(per_zoom):
            x, y = tile_of(rng.uniform(WEST, EAST), rng.uniform(SOUTH, NORTH), z)
            layer = rng.choice(("violations", "parcels"))
            out.append((z, f"/tiles/mvt/{layer}/{z}/{x}/{y}.pbf"))
    rng.shuffle(out)
    return out


def run(port: int, cookie: str, requests: list[tuple[int, str]], clients: int) -> tuple[dict[int, list[float]], float,
                                                                                        int]:
    """Fetch the tiles with ``clients`` keep-alive connections; return latencies per zoom, wall time, bytes."""
    lock = threading.Lock()
    queue = list(requests)
    lat: dict[int, list[float]] = defaultdict(list)
    total = [0]
    errors: list[str] = []

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                if not queue:
                    break
                z, path = queue.pop()
            t0 = time.perf_counter()
            conn.request("GET", path, headers={"Cookie": cookie})
            resp = conn.getresponse()
            data = resp.read()
            dt = time.perf_counter() - t0
            with lock:
                if resp.status != 200:
                    errors.append(f"{path}: HTTP {resp.status}")
                lat[z].append(dt)
                total[0] += len(data)
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    start = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - start
    if errors:
        raise SystemExit(f"{len(errors)} tile requests failed, e.g. {errors[0]}")
    return lat, wall, total[0]


def settle(threshold: float, limit_s: float) -> None:
    """Wait until the 1-minute load average is below ``threshold`` (loading raised it), at most ``limit_s``."""
    started = time.monotonic()
    while os.getloadavg()[0] >= threshold and time.monotonic() - started < limit_s:
        time.sleep(15)
    print(f"  waited {time.monotonic() - started:.0f} s for the load average to settle: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux /proc); None when it is gone or not on this machine."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds used by the web server process and by the benchmark database's backends during a run.

    Backends are listed from ``pg_stat_activity`` every half second, so one that opens during the
    run counts from zero and one that closes counts up to its last sample.
    """

    def __init__(self, engine: Engine, server_pid: int) -> None:
        self.engine, self.server_pid = engine, server_pid
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.server0 = 0.0

    def _sample(self, conn: Any, baseline: bool = False) -> None:
        pids = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                 "AND pid <> pg_backend_pid()")).scalars().all()
        for pid in pids:
            value = cpu_seconds(pid)
            if value is not None:
                self.first.setdefault(pid, value if baseline else 0.0)
                self.last[pid] = value

    def _poll(self) -> None:
        with self.engine.connect() as conn:
            while not self.stop_flag.wait(0.5):
                self._sample(conn)
                conn.rollback()

    def __enter__(self) -> CpuMeter:
        with self.engine.connect() as conn:
            self._sample(conn, baseline=True)  # backends alive now count from their present total
        self.server0 = cpu_seconds(self.server_pid) or 0.0
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server = (cpu_seconds(self.server_pid) or 0.0) - self.server0
        self.stop_flag.set()
        self.thread.join()
        with self.engine.connect() as conn:
            self._sample(conn)
        self.database = sum(self.last[pid] - self.first.get(pid, 0.0) for pid in self.last)
        self.backends = len(self.last)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--violations", type=int, default=1_000_000)
    parser.add_argument("--parcels", type=int, default=2_000_000)
    parser.add_argument("--per-zoom", type=int, default=300, help="tile requests per zoom level")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--threads", type=int, default=8, help="waitress worker threads")
    parser.add_argument("--pool", type=int, default=(os.cpu_count() or 2) + 1,
                        help="database connection pool size (default: CPU count + 1)")
    parser.add_argument("--tile-slots", type=int, default=0,
                        help="tiles served at once, the app's TILE_CONCURRENCY (default: the pool size)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quiet-load", type=float, default=0.0,
                        help="after loading, wait (up to 20 min) for the 1-minute load average to fall below this")
    args = parser.parse_args()
    args.tile_slots = args.tile_slots or args.pool

    from geo.testdb import throwaway_database

    print(f"vector tiles: {args.violations:,} violations, {args.parcels:,} parcels, {args.clients} clients, "
          f"waitress {args.threads} threads, pool {args.pool}, {args.tile_slots} tile slots, {os.cpu_count()} CPUs")
    with throwaway_database(prefix="wj_bench", pool_size=2) as engine, tempfile.TemporaryDirectory() as data_dir:
        started = time.perf_counter()
        print("loading:")
        load(engine, args.violations, args.parcels)
        print(f"  total load {time.perf_counter() - started:.1f} s")
        url = engine.url.render_as_string(hide_password=False)
        if args.quiet_load:
            settle(args.quiet_load, 20 * 60)
        proc, port = serve(url, data_dir, args.threads, args.pool, args.tile_slots)
        try:
            cookie = login(port)
            run(port, cookie, plan(20, args.seed + 1), args.clients)  # warm-up: connections, caches
            load_before = os.getloadavg()
            with CpuMeter(engine, proc.pid) as cpu1:
                single, _wall1, _size1 = run(port, cookie, plan(max(20, args.per_zoom // 5), args.seed + 2), 1)
            load_single = os.getloadavg()[0]
            with CpuMeter(engine, proc.pid) as cpu8:
                lat, wall, size = run(port, cookie, plan(args.per_zoom, args.seed), args.clients)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    n = sum(len(v) for v in lat.values())
    n1 = sum(len(v) for v in single.values())
    print(f"\nload average before the runs: {' '.join(f'{x:.2f}' for x in load_before)}")
    print(f"\none client (service time; load average {load_single:.2f}):")
    report(single)
    print(cpu_line(cpu1, n1))
    print(f"\n{args.clients} concurrent clients:")
    worst = report(lat)
    print(cpu_line(cpu8, n))
    print(f"\nthroughput: {n / wall:.1f} tiles/s with {args.clients} clients ({wall:.1f} s, "
          f"{size / n / 1024:.1f} KiB per tile on average)")
    print(f"load average after the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"targets: p95 < 100 ms at every zoom: {'met' if worst < 100 else 'NOT met'} (worst {worst:.1f} ms); "
          f">= 50 tiles/s: {'met' if n / wall >= 50 else 'NOT met'}")


def cpu_line(meter: CpuMeter, tiles: int) -> str:
    """CPU milliseconds per tile: web server process, PostgreSQL backends, both."""
    web, db = meter.server / tiles * 1000, meter.database / tiles * 1000
    return (f"CPU per tile: web server {web:.2f} ms + PostgreSQL {db:.2f} ms ({meter.backends} backends) "
            f"= {web + db:.2f} ms")


def report(lat: dict[int, list[float]]) -> float:
    """Print the latency table; return the worst p95 in ms."""
    print(f"{'zoom':>4} {'tiles':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    worst = 0.0
    for z in sorted(lat):
        v = lat[z]
        p95 = pct(v, 0.95) * 1000
        worst = max(worst, p95)
        print(f"{z:>4} {len(v):>6} {statistics.median(v) * 1000:>8.1f} {p95:>8.1f} {max(v) * 1000:>8.1f}")
    every = [x for v in lat.values() for x in v]
    print(f" all {len(every):>6} {statistics.median(every) * 1000:>8.1f} {pct(every, 0.95) * 1000:>8.1f} "
          f"{max(every) * 1000:>8.1f}")
    return worst


if __name__ == "__main__":
    main()
