"""Tile latency and throughput of the imagery tile endpoint on a warm 20,000 × 20,000 px COG.

Generates (once, kept in ``benchmarks/out/``) a synthetic RGB orthophoto of 20,000 × 20,000 px
at 0.1 m in CGCS2000 / GK CM 120E (EPSG:4549) over Shanghai, written as a JPEG-compressed COG
with 256 px blocks and overviews; registers it as a scene in a throwaway database; serves the
real Flask app with waitress on 127.0.0.1; warms the tiles once; then 4 client threads request
random 256 px tiles (zoom 15–21, inside the image) over keep-alive connections and the script
prints p50/p95/p99 latency and tiles per second. Targets: p95 < 50 ms, ≥ 100 tiles/s.

    python benchmarks/imagery_tiles.py [--size 20000] [--requests 2000] [--clients 4] [--threads 4]
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import random
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import rasterio
from pyproj import Transformer
from rasterio.transform import from_origin
from rasterio.windows import Window

OUT = Path(__file__).resolve().parent / "out"
LON, LAT = 121.40, 31.24
RES = 0.1


def make_cog(size: int, path: Path) -> None:
    """A synthetic orthophoto: roof-like blocks, roads and texture, as a JPEG COG."""
    if path.exists():
        return
    x0, y0 = Transformer.from_crs("EPSG:4326", "EPSG:4549", always_xy=True).transform(LON, LAT)
    raw = path.with_suffix(".raw.tif")
    prof = {"driver": "GTiff", "width": size, "height": size, "count": 3, "dtype": "uint8", "crs": "EPSG:4549",
            "transform": from_origin(x0, y0, RES, RES), "tiled": True, "blockxsize": 512, "blockysize": 512,
            "compress": "lzw", "BIGTIFF": "YES"}
    rng = np.random.default_rng(2025)
    step = 2048
    t0 = time.perf_counter()
    with rasterio.open(raw, "w", **prof) as dst:
        for r in range(0, size, step):
            for c in range(0, size, step):
                h, w = min(step, size - r), min(step, size - c)
                cells = rng.integers(40, 220, size=(3, h // 32 + 1, w // 32 + 1)).astype(np.uint8)
                block = np.kron(cells, np.ones((1, 32, 32), np.uint8))[:, :h, :w]
                block[:, ::200, :] = 90  # roads
                block[:, :, ::200] = 90
                noise = rng.integers(0, 12, size=(1, h, w), dtype=np.uint8)
                dst.write(block + noise, window=Window(c, r, w, h))
    print(f"raw image written in {time.perf_counter() - t0:.0f} s; converting to COG …", flush=True)
    from rasterio.shutil import copy

    with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS", GDAL_CACHEMAX=512):
        copy(str(raw), str(path), driver="COG", COMPRESS="JPEG", QUALITY=85, BLOCKSIZE=256,
             OVERVIEW_RESAMPLING="AVERAGE", BIGTIFF="YES", NUM_THREADS="ALL_CPUS")
    raw.unlink()
    print(f"COG ready ({path.stat().st_size / 1e6:.0f} MB) after {time.perf_counter() - t0:.0f} s", flush=True)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while b := f.read(1 << 20):
            h.update(b)
    return h.hexdigest()


def tiles_inside(size: int, n: int, seed: int = 7) -> list[tuple[int, int, int]]:
    """Random Web Mercator tiles whose centre is inside the image."""
    import morecantile

    tms = morecantile.tms.get("WebMercatorQuad")
    to_ll = Transformer.from_crs("EPSG:4549", "EPSG:4326", always_xy=True)
    x0, y0 = Transformer.from_crs("EPSG:4326", "EPSG:4549", always_xy=True).transform(LON, LAT)
    rnd = random.Random(seed)
    zooms = [15, 16, 17, 18, 19, 19, 20, 20, 21, 21]
    out = []
    for _ in range(n):
        px, py = rnd.uniform(0.05, 0.95) * size * RES, rnd.uniform(0.05, 0.95) * size * RES
        lon, lat = to_ll.transform(x0 + px, y0 - py)
        t = tms.tile(lon, lat, rnd.choice(zooms))
        out.append((t.z, t.x, t.y))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=20000)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--threads", type=int, default=4, help="waitress worker threads")
    args = ap.parse_args()

    from sqlalchemy import text

    from geo.db import session_factory
    from geo.testdb import throwaway_database
    from geo.users import create_user
    from webmap.factory import create_app

    OUT.mkdir(parents=True, exist_ok=True)
    cog = OUT / f"bench_{args.size}.tif"
    make_cog(args.size, cog)
    data_dir = OUT / "tiles-data"
    sha = sha256(cog)
    rel = f"scenes/{sha[:2]}/{sha}.tif"
    target = data_dir / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        target.hardlink_to(cog)

    with throwaway_database(prefix="wj_bench_tiles") as engine:
        with session_factory(engine).begin() as s:
            create_user(s, "bench-drone", "password-123", "drone")
            s.execute(text(
                "INSERT INTO scenes (sha256, path, original_name, sensor, captured_at, crs, resolution_m, width, "
                "height, band_count, dtype, size_bytes, footprint) VALUES (:sha, :rel, 'bench.tif', 'drone', "
                "now(), 'EPSG:4549', :res, :n, :n, 3, 'uint8', :bytes, ST_Multi(ST_Transform("
                "ST_MakeEnvelope(:x0, :y1, :x1, :y0, 4549), 4326)))"),
                {"sha": sha, "rel": rel, "res": RES, "n": args.size, "bytes": cog.stat().st_size,
                 **_bounds(args.size)})
            scene_id = s.execute(text("SELECT id FROM scenes WHERE sha256 = :s"), {"s": sha}).scalar_one()
        app = create_app({"ENGINE": engine, "SECRET_KEY": "bench", "DATA_DIR": str(data_dir),
                          "SESSION_COOKIE_SECURE": False, "WTF_CSRF_ENABLED": False})
        if "imagery" not in app.blueprints:
            from webmap.imagery import bp

            app.register_blueprint(bp)
        from waitress.server import create_server

        server = create_server(app, host="127.0.0.1", port=0, threads=args.threads)
        port = server.effective_port  # type: ignore[union-attr]
        th = threading.Thread(target=server.run, daemon=True)
        th.start()
        try:
            cookie = _login(port)
            tiles = tiles_inside(args.size, args.requests)
            urls = [f"/tiles/scenes/{scene_id}/{z}/{x}/{y}.png" for z, x, y in tiles]
            print(f"warming {len(set(urls))} distinct tiles …", flush=True)
            _run(port, cookie, sorted(set(urls)), args.clients)
            print(f"measuring {len(urls)} requests with {args.clients} concurrent clients …", flush=True)
            cpu0 = time.process_time()
            lat, wall, sizes = _run(port, cookie, urls, args.clients)
            cpu = time.process_time() - cpu0
        finally:
            server.close()
    lat_ms = sorted(x * 1000 for x in lat)
    q = statistics.quantiles(lat_ms, n=100)
    print(f"tiles: {len(lat_ms)}  clients: {args.clients}  waitress threads: {args.threads}  "
          f"image: {args.size} x {args.size} px JPEG COG, EPSG:4549")
    print(f"latency ms: p50 {q[49]:.1f}  p95 {q[94]:.1f}  p99 {q[98]:.1f}  max {lat_ms[-1]:.1f}")
    print(f"throughput: {len(lat_ms) / wall:.0f} tiles/s  (mean PNG {statistics.mean(sizes) / 1024:.0f} KiB)")
    cpu_ms = cpu / len(lat_ms) * 1000
    print(f"CPU per tile: {cpu_ms:.1f} ms (server and client threads of this process; load-independent) "
          f"-> about {2000 / cpu_ms:.0f} tiles/s on 2 idle cores")
    print(f"machine load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"targets: p95 < 50 ms {'MET' if q[94] < 50 else 'MISSED'}; "
          f">= 100 tiles/s {'MET' if len(lat_ms) / wall >= 100 else 'MISSED'}")


def _bounds(size: int) -> dict[str, float]:
    x0, y0 = Transformer.from_crs("EPSG:4326", "EPSG:4549", always_xy=True).transform(LON, LAT)
    return {"x0": x0, "y0": y0, "x1": x0 + size * RES, "y1": y0 - size * RES}


def _login(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", "/login", body="username=bench-drone&password=password-123",
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    r = conn.getresponse()
    r.read()
    cookie = r.getheader("Set-Cookie") or ""
    assert r.status == 302 and cookie, f"login failed: {r.status}"
    return cookie.split(";")[0]


def _run(port: int, cookie: str, urls: list[str], clients: int) -> tuple[list[float], float, list[int]]:
    lat: list[float] = []
    sizes: list[int] = []
    lock = threading.Lock()
    it = iter(urls)

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                url = next(it, None)
            if url is None:
                break
            t0 = time.perf_counter()
            conn.request("GET", url, headers={"Cookie": cookie})
            r = conn.getresponse()
            body = r.read()
            dt = time.perf_counter() - t0
            assert r.status == 200, (r.status, url, body[:200])
            with lock:
                lat.append(dt)
                sizes.append(len(body))
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return lat, time.perf_counter() - t0, sizes


if __name__ == "__main__":
    main()
